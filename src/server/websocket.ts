/**
 * graphql-ws on the same path as HTTP GraphQL. The access token comes in the `connection_init`
 * payload (`{ authorization: "Bearer …" }` or `{ accessToken: "…" }`): browsers cannot set
 * headers on a WebSocket. A bad token closes the socket with 4403 before any operation runs.
 */
import type { Server } from 'node:http';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { Context } from '../context.ts';
import { ErrorCode } from '../errors.ts';
import type { Services } from '../services.ts';
import type { Metrics } from '../observability/metrics.ts';
import { bearerToken, createContext } from './context.ts';
import { withErrorCodes } from './errors.ts';

type ConnectionState = { context?: Context };

function tokenFrom(params: Record<string, unknown> | undefined): string | undefined {
  if (!params) return undefined;
  if (typeof params.accessToken === 'string') return params.accessToken;
  const header = params.authorization ?? params.Authorization;
  return typeof header === 'string' ? bearerToken(header) : undefined;
}

// The yoga instance's server context type is not needed here; any instance will do.
type AnyYoga = YogaServerInstance<Record<string, unknown>, Record<string, unknown>>;

export function attachWebSocket(server: Server, yoga: AnyYoga, services: Services, metrics: Metrics) {
  const wsServer = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  const countCode = (code: string) => metrics.countError(code);

  const disposable = useServer<Record<string, unknown> | undefined, ConnectionState>(
    {
      onConnect: async (ctx) => {
        try {
          ctx.extra.context = await createContext(services, tokenFrom(ctx.connectionParams));
          return true;
        } catch {
          return false; // graphql-ws closes with 4403 Forbidden
        }
      },
      onSubscribe: async (ctx, _id, payload) => {
        const { schema, execute, subscribe, parse, validate } = yoga.getEnveloped(ctx);
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [withErrorCodes({ errors: [error as GraphQLError] }).errors![0]!];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return withErrorCodes({ errors }, countCode).errors!;
        // Each operation gets fresh loaders, like an HTTP request, with the connection's identity.
        const base = ctx.extra.context!;
        const contextValue = await createContext(services, base.accessToken ?? undefined);
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
      onNext: (_ctx, _id, _payload, _args, result) => withErrorCodes(result, countCode),
      onError: (_ctx, _id, _payload, errors) =>
        errors.map((error) =>
          error.extensions.code ? error : new GraphQLError(error.message, { extensions: { code: ErrorCode.BAD_USER_INPUT } }),
        ),
    },
    wsServer,
  );

  return {
    async close() {
      await disposable.dispose();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}
