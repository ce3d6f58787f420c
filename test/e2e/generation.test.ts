import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CancelGenerationDocument,
  ConversationDocument,
  GenerateDocument,
  GenerateStreamDocument,
  GenerationEventsDocument,
  ModelsDocument,
  RegenerateDocument,
  SendMessageDocument,
  type GenerationEventFieldsFragment,
} from '../../src/generated/graphql.ts';
import { errorCodes, startTestApp, type TestApp } from '../support/harness.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';

let t: TestApp;
let user: Awaited<ReturnType<TestApp['newUser']>>;

beforeAll(async () => {
  t = await startTestApp({ ROLE: 'all', RATE_LIMIT_PER_MINUTE: '1000' });
  user = await t.newUser();
});
afterAll(() => t.stop());

type Event = GenerationEventFieldsFragment;
const tokens = (events: Event[]) => events.filter((e): e is Extract<Event, { __typename: 'GenerationToken' }> => e.__typename === 'GenerationToken');
const completed = (events: Event[]) => events.at(-1) as Extract<Event, { __typename: 'GenerationCompleted' }>;

async function follow(id: string, after = 0, onEvent?: (event: Event) => void): Promise<Event[]> {
  const client = wsClient(t.url, user.accessToken);
  try {
    const results = await collectSubscription(client, GenerationEventsDocument, { id, after }, (r) => r.data && onEvent?.(r.data.generation));
    const failed = results.find((r) => r.errors);
    if (failed) throw new Error(JSON.stringify(failed.errors));
    return results.map((r) => r.data!.generation);
  } finally {
    await client.dispose();
  }
}

async function send(content: string, extra: Record<string, unknown> = {}) {
  const response = await t.gql(SendMessageDocument, { input: { content, params: { maxTokens: 24, seed: 3 }, ...extra } }, user.accessToken);
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.sendMessage;
}

describe('streaming generation (embedded)', () => {
  it('streams a reply over graphql-ws whose text is the deltas, stored in the conversation', async () => {
    const generation = await send('Tell me about the sea.');
    expect(generation.conversation?.title).toBe('Tell me about the sea.');
    expect(generation.userMessage?.content).toBe('Tell me about the sea.');
    const events = await follow(generation.id);
    const streamed = tokens(events);
    expect(streamed.length).toBeGreaterThan(1);
    expect(streamed.map((e) => e.index)).toEqual(streamed.map((_, i) => i + 1));
    const done = completed(events);
    expect(done.__typename).toBe('GenerationCompleted');
    expect(done.text).toBe(streamed.map((e) => e.delta).join(''));
    expect(done.message).toMatchObject({ id: generation.replyMessageId, role: 'ASSISTANT', content: done.text, parentId: generation.userMessage?.id, interrupted: false });

    const conversation = (await t.gql(ConversationDocument, { id: generation.conversation!.id }, user.accessToken)).data!.conversation;
    expect(conversation.messageCount).toBe(2);
    // updatedAt moved when the reply was stored.
    expect(Date.parse(conversation.updatedAt)).toBeGreaterThanOrEqual(Date.parse(conversation.messages.edges[1]!.node.createdAt));
    expect(conversation.messages.edges.map((e) => [e.node.role, e.node.content])).toEqual([
      ['USER', 'Tell me about the sea.'],
      ['ASSISTANT', done.text],
    ]);
  });

  it('streams the same over SSE', async () => {
    const generation = await send('And over HTTP?');
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${user.accessToken}` },
      body: JSON.stringify({ query: print(GenerationEventsDocument), variables: { id: generation.id } }),
    });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const body = await response.text();
    const events = [...body.matchAll(/^event: next\ndata: (.*)$/gm)].map((m) => (JSON.parse(m[1]!) as { data: { generation: Event } }).data.generation);
    const done = completed(events);
    expect(done.__typename).toBe('GenerationCompleted');
    expect(done.text).toBe(tokens(events).map((e) => e.delta).join(''));
  });

  it('gives a late subscriber and a reconnecting one exactly the missing events', async () => {
    const generation = await send('Count to twenty.', { params: { maxTokens: 40, seed: 8 } });
    const first: Event[] = [];
    let late: Promise<Event[]> | undefined;
    const all = await follow(generation.id, 0, (event) => {
      first.push(event);
      if (event.index === 5) late = follow(generation.id, 0); // joins mid-stream, asks for everything
    });
    const resumed = await follow(generation.id, 7); // reconnects after event 7
    expect(late).toBeDefined();
    expect((await late!).map((e) => e.index)).toEqual(all.map((e) => e.index));
    expect(resumed.map((e) => e.index)).toEqual(all.slice(7).map((e) => e.index));
    expect(tokens(resumed).map((e) => e.delta).join('')).toBe(tokens(all.slice(7)).map((e) => e.delta).join(''));
  });

  it('cancels: the partial reply is stored, marked interrupted, and the stream ends as cancelled', async () => {
    const generation = await send('Write a very long story.', { params: { maxTokens: 200, temperature: 0.9 } });
    const events = await follow(generation.id, 0, (event) => {
      if (event.index === 3) void t.gql(CancelGenerationDocument, { id: generation.id }, user.accessToken);
    });
    const done = completed(events);
    expect(done.finishReason).toBe('CANCELLED');
    expect(done.usage.completionTokens).toBeLessThan(200);
    expect(done.message).toMatchObject({ interrupted: true, finishReason: 'cancelled', content: tokens(events).map((e) => e.delta).join('') });
  });

  it('answers an identical deterministic request from the cache, and never a random one', async () => {
    const ask = async (params: Record<string, unknown>) => {
      const response = await t.gql(GenerateDocument, { input: { prompt: 'The cache test prompt', params: { maxTokens: 12, ...params } } }, user.accessToken);
      if (!response.data) throw new Error(JSON.stringify(response.errors));
      return response.data.generate;
    };
    const metric = async (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`${t.url}/metrics`)).text())?.[1] ?? 0);
    const hitsBefore = await metric('cache_hits_total');
    const first = await ask({ temperature: 0 });
    const second = await ask({ temperature: 0 });
    expect(first.cached).toBe(false);
    expect(second).toMatchObject({ cached: true, text: first.text });
    expect(await metric('cache_hits_total')).toBe(hitsBefore + 1);
    const random = [await ask({ temperature: 0.9 }), await ask({ temperature: 0.9 })];
    expect(random.map((r) => r.cached)).toEqual([false, false]);
    expect(await metric('cache_hits_total')).toBe(hitsBefore + 1);
  });

  it('regenerates a reply beside the old one, from the same user message', async () => {
    const generation = await send('Say something.');
    const firstReply = completed(await follow(generation.id)).message!;
    const again = (await t.gql(RegenerateDocument, { messageId: firstReply.id, params: { seed: 99, maxTokens: 16 } }, user.accessToken)).data!.regenerate;
    expect(again.userMessage?.id).toBe(generation.userMessage?.id);
    const secondReply = completed(await follow(again.id)).message!;
    expect(secondReply.parentId).toBe(firstReply.parentId);
    expect(secondReply.id).not.toBe(firstReply.id);
  });

  it('streams a stateless generation and lists the model', async () => {
    const client = wsClient(t.url, user.accessToken);
    const results = await collectSubscription(client, GenerateStreamDocument, { input: { messages: [{ role: 'USER', content: 'Hi' }], params: { maxTokens: 10 } } });
    await client.dispose();
    const events = results.map((r) => r.data!.generateStream);
    expect(completed(events)).toMatchObject({ __typename: 'GenerationCompleted', message: null, text: tokens(events).map((e) => e.delta).join('') });
    // Log-probabilities are computed only for requests that ask.
    expect(tokens(events).every((e) => e.logprob === null && e.topLogprobs === null)).toBe(true);
    const models = (await t.gql(ModelsDocument, {}, user.accessToken)).data?.models;
    expect(models).toEqual([
      { name: 'default', architecture: expect.any(String), dtype: 'fp32', parameters: models?.[0]?.parameters ?? null, contextLength: 256, chatTemplate: expect.any(Boolean), workers: [t.worker!.consumerName] },
    ]);
  });

  it('streams log-probabilities when asked: the chosen token’s and the best alternatives, best first', async () => {
    const client = wsClient(t.url, user.accessToken);
    const input = { messages: [{ role: 'USER' as const, content: 'Hi' }], params: { maxTokens: 8, temperature: 0, logprobs: 3 } };
    const events = (await collectSubscription(client, GenerateStreamDocument, { input })).map((r) => r.data!.generateStream);
    await client.dispose();
    const streamed = tokens(events);
    expect(streamed.length).toBeGreaterThan(0);
    for (const token of streamed) {
      const top = token.topLogprobs!;
      expect(top).toHaveLength(3);
      expect(top.map((t) => t.logprob)).toEqual(top.map((t) => t.logprob).sort((a, b) => b - a));
      expect(top[2]!.logprob).toBeLessThan(0);
      // Greedy: the text is the best token's (a piece of one token, the default model's usual case).
      expect(token.logprob).toBe(top[0]!.logprob);
      expect(top[0]!.token).toBe(token.delta);
    }
    expect(errorCodes(await t.gql(SendMessageDocument, { input: { content: 'x', params: { logprobs: 21 } } }, user.accessToken))).toEqual(['BAD_USER_INPUT']);
  });

  it('refuses bad input and other users clearly', async () => {
    const codes = async (input: Record<string, unknown>) => errorCodes(await t.gql(SendMessageDocument, { input: { content: 'x', ...input } as never }, user.accessToken));
    expect(await codes({ content: '   ' })).toEqual(['BAD_USER_INPUT']);
    expect(await codes({ params: { temperature: 5 } })).toEqual(['BAD_USER_INPUT']);
    expect(await codes({ params: { topP: 0 } })).toEqual(['BAD_USER_INPUT']);
    expect(await codes({ conversationId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' })).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(GenerateDocument, { input: { params: {} } }, user.accessToken))).toEqual(['BAD_USER_INPUT']);

    const generation = await send('Mine.');
    const other = await t.newUser();
    expect(errorCodes(await t.gql(CancelGenerationDocument, { id: generation.id }, other.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(RegenerateDocument, { messageId: generation.userMessage!.id }, other.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(SendMessageDocument, { input: { content: 'hijack', conversationId: generation.conversation!.id } }, other.accessToken))).toEqual([
      'NOT_FOUND',
    ]);
    const client = wsClient(t.url, other.accessToken);
    const results = await collectSubscription(client, GenerationEventsDocument, { id: generation.id, after: 0 });
    await client.dispose();
    expect(results).toMatchObject([{ errors: [{ extensions: { code: 'NOT_FOUND' } }] }]);
  });
});
