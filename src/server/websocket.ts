/**
 * graphql-ws on the same path as HTTP GraphQL. The access token comes in the `connection_init`
 * payload (`{ authorization: "Bearer …" }` or `{ accessToken: "…" }`) and nowhere else:
 * browsers cannot set headers on a WebSocket, and a token in the URL would end up in logs.
 *
 * Close codes: 4403 a bad token; 4401 the token expired (reconnect with a fresh one); 1013 too
 * many connections for this user, or a service the token check needs is unavailable (reconnect
 * later); 1009 a message over WS_MAX_MESSAGE_BYTES; 4408 no `connection_init` in time.
 */
import type { IncomingMessage, Server } from 'node:http';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { Config } from '../config.ts';
import type { Context } from '../context.ts';
import { ErrorCode } from '../errors.ts';
import type { Services } from '../services.ts';
import type { ClientIp } from './client-ip.ts';
import { isDependencyUnavailable } from '../dependency-errors.ts';
import { bearerToken, createContext } from './context.ts';
import { unavailableError, withErrorCodes, type ErrorShaping } from './errors.ts';

type ConnectionState = { context?: Context };

/** Standard WebSocket code for "try again later". */
const TRY_AGAIN_LATER = 1013;
// setTimeout takes at most a signed 32-bit delay; a longer token is re-checked per operation anyway.
const MAX_TIMER_MS = 2 ** 31 - 1;

function tokenFrom(params: Record<string, unknown> | undefined): string | undefined {
  if (!params) return undefined;
  if (typeof params.accessToken === 'string') return params.accessToken;
  const header = params.authorization ?? params.Authorization;
  return typeof header === 'string' ? bearerToken(header) : undefined;
}

// The yoga instance's server context type is not needed here; any instance will do.
type AnyYoga = YogaServerInstance<Record<string, unknown>, Record<string, unknown>>;

export interface WebSocketOptions {
  services: Services;
  errorShaping: ErrorShaping;
  clientIp: ClientIp;
  limits: Config['websocket'];
}

/** Open connections per key (a user, or the address of anonymous clients), in this process. */
function connectionCounter(max: number) {
  const open = new Map<string, number>();
  return {
    /** Takes a slot for `key`; false when it has none left. The returned release frees it. */
    acquire(key: string): (() => void) | false {
      const count = open.get(key) ?? 0;
      if (count >= max) return false;
      open.set(key, count + 1);
      return () => {
        const left = (open.get(key) ?? 1) - 1;
        if (left > 0) open.set(key, left);
        else open.delete(key);
      };
    },
  };
}

export function attachWebSocket(server: Server, yoga: AnyYoga, options: WebSocketOptions) {
  const { services, errorShaping, limits } = options;
  const wsServer = new WebSocketServer({ server, path: yoga.graphqlEndpoint, maxPayload: limits.maxMessageBytes });
  const connections = connectionCounter(limits.maxConnectionsPerUser);

  /** Ends the connection when its token does, so no stream outlives the credentials that opened it. */
  function closeOnExpiry(extra: Extra, expiresAt: number) {
    const socket = extra.socket;
    const timer = setTimeout(
      () => socket.close(CloseCode.Unauthorized, 'Token expired'),
      Math.min(Math.max(0, expiresAt * 1000 - Date.now()), MAX_TIMER_MS),
    );
    socket.once('close', () => clearTimeout(timer));
  }

  const disposable = useServer<Record<string, unknown> | undefined, ConnectionState>(
    {
      connectionInitWaitTimeout: limits.initTimeoutMs,
      onConnect: async (ctx) => {
        const clientIp = options.clientIp(ctx.extra.request as IncomingMessage);
        let context: Context;
        try {
          context = await createContext(services, () => tokenFrom(ctx.connectionParams), clientIp);
        } catch (error) {
          // Not the token's fault: 1013 tells the client to reconnect later, not to sign in again.
          if (isDependencyUnavailable(error)) ctx.extra.socket.close(TRY_AGAIN_LATER, 'A service is unavailable; try again shortly');
          return false; // otherwise graphql-ws closes with 4403 Forbidden
        }
        const release = connections.acquire(context.identity ? `user:${context.identity.userId}` : `ip:${clientIp}`);
        if (!release) {
          ctx.extra.socket.close(TRY_AGAIN_LATER, 'Too many connections');
          return false;
        }
        ctx.extra.socket.once('close', release);
        if (context.identity) closeOnExpiry(ctx.extra, context.identity.expiresAt);
        ctx.extra.context = context;
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        // graphql-ws has already registered this operation, so the count includes it.
        if (Object.keys(ctx.subscriptions).length > limits.maxOperations) {
          return [
            new GraphQLError(`At most ${limits.maxOperations} operations may run at once on one connection`, {
              extensions: { code: ErrorCode.BAD_USER_INPUT, reason: 'TOO_MANY_OPERATIONS' },
            }),
          ];
        }
        const { schema, execute, subscribe, parse, validate } = yoga.getEnveloped(ctx);
        let document;
        try {
          // PERSISTED_OPERATIONS, as yoga's plugin applies it over HTTP: a document, or a hash.
          document = parse(await services.persistedOperations.documentFor(payload));
        } catch (error) {
          return withErrorCodes({ errors: [error as GraphQLError] }, errorShaping).errors!;
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return withErrorCodes({ errors }, errorShaping).errors!;
        // Each operation gets fresh loaders, like an HTTP request, with the connection's identity.
        // The token is checked again: between an expiry and the socket's close, it is refused here.
        const base = ctx.extra.context!;
        let contextValue: Context;
        try {
          contextValue = await createContext(services, () => base.accessToken ?? undefined, base.clientIp);
        } catch (error) {
          const refused = isDependencyUnavailable(error) ? unavailableError() : (error as GraphQLError);
          return withErrorCodes({ errors: [refused] }, errorShaping).errors!;
        }
        const args: ExecutionArgs & { rootValue: { execute: typeof execute; subscribe: typeof subscribe } } = {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue,
          rootValue: { execute, subscribe },
        };
        return args;
      },
      execute: (args) => (args.rootValue as { execute: typeof import('graphql').execute }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: typeof import('graphql').subscribe }).subscribe(args),
      onNext: (_ctx, _id, _payload, _args, result) => withErrorCodes(result, errorShaping),
      onError: (_ctx, _id, _payload, errors) =>
        errors.map((error) =>
          error.extensions.code ? error : new GraphQLError(error.message, { extensions: { code: ErrorCode.BAD_USER_INPUT } }),
        ),
    },
    wsServer,
  );

  return {
    /** Open graphql-ws connections (`api_websocket_connections`). */
    connections: () => wsServer.clients.size,
    async close() {
      await disposable.dispose();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}
