/**
 * The fan-out benchmark's clients: one WebSocket per subscription, speaking graphql-ws
 * (`graphql-transport-ws`) directly on `ws`. Thousands of them share the benchmark's one
 * event loop, so each is a socket and a few closures: graphql-ws's `createClient` would add
 * its own state, retry logic and timers per connection, and the client's cost is part of the
 * latency it measures.
 */
import WebSocket from 'ws';

const SUBSCRIPTION = `subscription ($id: ID!) { generation(id: $id) { __typename ... on GenerationToken { index delta } } }`;

/** What all clients of one round record; tokens carry their publish time in `delta`. */
export interface Receipts {
  latenciesMs: number[];
  tokens: number;
  /** Time of the last token received, to compute the delivery rate. */
  lastAt: number;
  errors: string[];
}

export const newReceipts = (): Receipts => ({ latenciesMs: [], tokens: 0, lastAt: 0, errors: [] });

type Message =
  | { type: 'connection_ack' }
  | { type: 'next'; id: string; payload: { data?: { generation: { __typename: string; delta?: string } }; errors?: unknown[] } }
  | { type: 'error'; id: string; payload: unknown }
  | { type: 'complete'; id: string }
  | { type: 'ping' };

export interface FanoutClient {
  /** Resolves when the server completes the subscription (the generation's terminal event). */
  completed: Promise<void>;
  /** Resolves when the socket is closed, by either side. */
  closed: Promise<void>;
  close(): void;
}

/** Connects, authenticates and subscribes to `generation(id)`; resolves once the subscribe message is sent. */
export function followGeneration(wsUrl: string, accessToken: string, generationId: string, receipts: Receipts): Promise<FanoutClient> {
  const socket = new WebSocket(wsUrl, 'graphql-transport-ws', { perMessageDeflate: false });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let complete!: () => void;
  const completed = new Promise<void>((resolve) => (complete = resolve));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', (code, reason) => reject(new Error(`closed before subscribing: ${code} ${reason}`)));
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { accessToken } })));
    socket.on('message', (data) => {
      const receivedAt = performance.timeOrigin + performance.now();
      const message = JSON.parse(String(data)) as Message;
      switch (message.type) {
        case 'connection_ack':
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { id: generationId } } }));
          return resolve({ completed, closed, close: () => socket.close() });
        case 'next': {
          const event = message.payload.data?.generation;
          if (event?.__typename === 'GenerationToken') {
            receipts.latenciesMs.push(receivedAt - Number(event.delta));
            receipts.tokens++;
            receipts.lastAt = receivedAt;
          } else if (!event) receipts.errors.push(JSON.stringify(message.payload.errors));
          return;
        }
        case 'error':
          receipts.errors.push(JSON.stringify(message.payload));
          return complete();
        case 'complete':
          return complete();
        case 'ping':
          return socket.send(JSON.stringify({ type: 'pong' }));
      }
    });
  });
}
