/**
 * The API's HTTP server: graphql-yoga over HTTP (with SSE subscriptions) and graphql-ws on one
 * port, over the services `createApi` built. Returns start/stop; stop() leaves the shared
 * infrastructure to the process that made it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFetch } from '@whatwg-node/fetch';
import { createYoga, isAsyncIterable, mapAsyncIterator, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';
import { createMetrics } from '../observability/metrics.ts';
import { schema } from '../schema/index.ts';
import type { Services } from '../services.ts';
import { clientIpResolver } from './client-ip.ts';
import { bearerToken, createContext } from './context.ts';
import { createErrorMasker, withErrorCodes, type ErrorShaping } from './errors.ts';
import { boundedParserCache, graphqlLimitPlugins } from './graphql-limits.ts';
import { batchedSubscriptionPlugin, bodyLimitPlugin, corsOptions, uploadFormDataLimits, csrfPlugin, securityHeadersPlugin, unsupportedMediaTypePlugin } from './http-security.ts';
import { metricsPlugin } from './metrics-plugin.ts';
import type { ReadinessCheck } from './probes.ts';
import { routesPlugin } from './routes.ts';
import { resourceRoutesPlugin } from './resource-routes.ts';
import { openAIRoutesPlugin } from './openai-routes.ts';
import { attachWebSocket } from './websocket.ts';
import { useDeferStream } from '@graphql-yoga/plugin-defer-stream';
import { graphqlTracingPlugin, tracedRequests } from './tracing.ts';
import { webPagePlugin } from '../web/plugin.ts';
import { sharePagePlugin } from '../web/share-page.ts';

export interface App {
  services: Services;
  server: Server;
  /** Base URL once started, e.g. http://127.0.0.1:4000 */
  url: string;
  start(): Promise<string>;
  stop(): Promise<void>;
}

function errorCodesPlugin(shaping: ErrorShaping): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      if (isAsyncIterable(result)) {
        setResult(mapAsyncIterator(result, (item) => withErrorCodes(item, shaping)));
      } else if (Array.isArray(result)) {
        setResult(result.map((item) => withErrorCodes(item, shaping)));
      } else {
        setResult(withErrorCodes(result, shaping));
      }
    },
  };
}

/** X-RateLimit-* on responses to rate-limited operations, and Retry-After once the limit is reached. */
function rateLimitHeadersPlugin(contexts: WeakMap<Request, Context>): Plugin {
  return {
    onResponse({ request, response }) {
      const state = contexts.get(request)?.response.rateLimit;
      if (!state) return;
      response.headers.set('X-RateLimit-Limit', String(state.limit));
      response.headers.set('X-RateLimit-Remaining', String(state.remaining));
      response.headers.set('X-RateLimit-Reset', String(state.reset));
      if (state.limited) response.headers.set('Retry-After', String(Math.max(1, state.reset - Math.floor(Date.now() / 1000))));
    },
  };
}

/**
 * How long stop() waits for requests in progress (an SSE stream lasts as long as its
 * generation); past it, their connections are closed. Kubernetes allows 30 s by default.
 */
const SHUTDOWN_GRACE_MS = 10_000;

async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(promises), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export function buildApp(services: Services, readiness: Record<string, ReadinessCheck>): App {
  const { config, logger } = services;
  const metrics = createMetrics(services.registry);
  const clientIp = clientIpResolver(config.http.trustProxy);
  const errorShaping: ErrorShaping = {
    countCode: (code) => metrics.countError(code),
    hideSuggestions: !config.graphql.introspection,
  };

  // The node adapter passes the IncomingMessage along; absent when yoga.fetch is called directly.
  // Lets HTTP response hooks see what the operation recorded in its context (rate-limit state).
  const contexts = new WeakMap<Request, Context>();
  const yoga = createYoga<{ req?: IncomingMessage }, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    // Yoga's own health check answers any path ending in its endpoint with an empty body, ahead
    // of every plugin; it is moved out of the way, and routesPlugin answers /health and /ready.
    healthCheckEndpoint: '/.yoga/health',
    graphiql: config.graphiql ? { title: 'gptql' } : false,
    landingPage: false,
    logging: false,
    maskedErrors: { maskError: createErrorMasker(logger) },
    parserAndValidationCache: boundedParserCache(),
    // bodyLimitPlugin refuses bodies by their Content-Length and refuses chunked ones, which is
    // all the HTTP parser will ever read. Yoga's own limit piped every request body through a
    // counting stream and copied the request (a cost per request that bought nothing), and
    // capped uploads at 25 MB whatever UPLOAD_MAX_BYTES said.
    maxRequestBodySize: false,
    batching: config.graphql.maxBatch > 0 ? { limit: config.graphql.maxBatch } : false,
    cors: corsOptions(config.http.corsOrigins),
    // yoga's own fetch implementation, with limits on multipart bodies (uploads).
    fetchAPI: createFetch({ formDataLimits: uploadFormDataLimits(config.http.maxBodyBytes, config.files.maxUploadBytes) }),
    context: async ({ request, req }) => {
      const context = await createContext(services, () => bearerToken(request.headers.get('authorization')), clientIp(req));
      contexts.set(request, context);
      return context;
    },
    plugins: [
      securityHeadersPlugin({ https: config.publicUrl.startsWith('https:') }),
      unsupportedMediaTypePlugin(),
      batchedSubscriptionPlugin(),
      bodyLimitPlugin(config.http.maxBodyBytes, config.files.maxUploadBytes),
      csrfPlugin(),
      ...services.persistedOperations.plugins(),
      ...(config.graphql.defer ? [useDeferStream()] : []),
      ...graphqlLimitPlugins(config.graphql),
      routesPlugin(services, metrics, readiness),
      resourceRoutesPlugin(services),
      openAIRoutesPlugin(services),
      webPagePlugin(services.persistedOperations.mode),
      sharePagePlugin(services),
      metricsPlugin(metrics),
      ...[graphqlTracingPlugin()].filter((plugin) => plugin !== undefined),
      errorCodesPlugin(errorShaping),
      rateLimitHeadersPlugin(contexts),
    ],
  });

  // Requests being answered, so that stop() can let them finish before it closes the stores
  // under them (a request still reading from a closed database fails, or crashes the process).
  const inFlight = new Set<Promise<unknown>>();
  const handle = tracedRequests((request, response) => yoga(request, response));
  const server = createServer((request, response) => {
    const handling: Promise<unknown> = Promise.resolve(handle(request, response)).finally(() => inFlight.delete(handling));
    inFlight.add(handling);
  });
  const websocket = attachWebSocket(server, yoga as never, { services, errorShaping, clientIp, limits: config.websocket });
  metrics.observeLive({ subscriptions: () => services.streams.activeSubscriptions(), webSockets: websocket.connections });

  const app: App = {
    services,
    server,
    url: '',
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => resolve());
      });
      const { port } = server.address() as AddressInfo;
      const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
      app.url = `http://${host}:${port}`;
      logger.info({ url: `${app.url}/graphql`, role: config.role }, 'api listening');
      return app.url;
    },
    async stop() {
      await websocket.close();
      // No new connections or requests; those in progress finish, within the grace period.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await settleWithin([...inFlight], SHUTDOWN_GRACE_MS);
      server.closeAllConnections();
      await closed;
      await settleWithin([...inFlight], SHUTDOWN_GRACE_MS);
      await services.identity.close();
    },
  };
  return app;
}
