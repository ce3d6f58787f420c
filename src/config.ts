/**
 * Every environment variable of the product, validated in one place, with the embedded
 * defaults used when nothing is set. The README's configuration table is generated from
 * `CONFIG_VARIABLES` (a test keeps them equal).
 */
import os from 'node:os';
import path from 'node:path';
import proxyAddr from 'proxy-addr';
import { z } from 'zod';
import { DEFAULT_MODEL_DIR } from '../model/default-dir.ts';
import { MODEL_NAME, MODEL_NAME_RULE, SQS_QUEUE_NAME, modelQueueUrl, sqsQueueName } from './queue/names.ts';

const port = z.coerce.number().int().min(0).max(65_535);
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().min(0);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');
const url = z.string().url();

interface VariableSpec {
  schema: z.ZodType;
  description: string;
  /** Shown in the README; undefined means "unset". */
  default?: string;
  /** Listed again in the README's "Security" section: a limit or a protection an operator tunes. */
  security?: true;
}

/** `a, b` → ['a', 'b']: lists in one variable, as operators write them. */
const commaList = z
  .string()
  .transform((value) => value.split(',').map((item) => item.trim()).filter((item) => item.length > 0));

/** A hop count, or addresses/subnets/names that proxy-addr understands. */
const trustList = commaList.refine(
  (list) => {
    if (list.length === 1 && /^\d+$/.test(list[0]!)) return true;
    try {
      proxyAddr.compile(list);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'expected a hop count, or IP addresses/subnets/loopback/linklocal/uniquelocal' },
);

/** A model folder a worker serves, under the name clients pick it by (`GenerationParams.model`). */
export interface ModelFolderEntry {
  name: string;
  path: string;
}

/**
 * `name=target` or `target` entries, comma-separated, where a bare target is named by `nameOf`.
 * Names must be unique (they route jobs) and safe in queue keys.
 */
const namedList = ({ what, form }: { what: string; form: string }, nameOf: (target: string) => string) =>
  z.string().transform((value, ctx) => {
    const entries: { name: string; target: string }[] = [];
    for (const [index, raw] of value.split(',').entries()) {
      const item = raw.trim();
      const at = `entry ${index + 1}`;
      if (item.length === 0) {
        ctx.addIssue({ code: 'custom', message: `${at} is empty (two commas, or one at either end)` });
        continue;
      }
      const equals = item.indexOf('=');
      const target = (equals >= 0 ? item.slice(equals + 1) : item).trim();
      const name = equals >= 0 ? item.slice(0, equals).trim() : nameOf(target);
      if (target.length === 0) {
        ctx.addIssue({ code: 'custom', message: `${at} ("${item}") names no ${what}` });
        continue;
      }
      if (!MODEL_NAME.test(name)) {
        const hint = equals >= 0 ? '' : `; give it one as ${form}`;
        ctx.addIssue({ code: 'custom', message: `${at}: model name "${name}" is not valid (${MODEL_NAME_RULE})${hint}` });
        continue;
      }
      if (entries.some((entry) => entry.name === name)) {
        ctx.addIssue({ code: 'custom', message: `model name "${name}" is given twice; name one of them with ${form}` });
        continue;
      }
      entries.push({ name, target });
    }
    return entries;
  });

/** MODEL_PATH: a bare path is named after its folder. */
const modelList = namedList({ what: 'folder', form: 'name=path' }, (folder) => path.basename(path.resolve(folder))).transform((entries): ModelFolderEntry[] => entries.map(({ name, target }) => ({ name, path: target })));

/** A model a worker forwards to an upstream server: its name here, and there. */
export interface UpstreamModelEntry {
  name: string;
  upstreamModel: string;
}

/** UPSTREAM_MODELS: a bare upstream name is also the name here (if it is a valid one). */
const upstreamModelList = namedList({ what: 'model', form: 'name=model' }, (model) => model).transform((entries): UpstreamModelEntry[] => entries.map(({ name, target }) => ({ name, upstreamModel: target })));

/** The single list of variables: name → validation, default and meaning. */
export const CONFIG_VARIABLES = {
  ROLE: { schema: z.enum(['api', 'worker', 'all']), default: 'all', description: 'Which role this process runs: `api`, `worker` or both (`all`).' },
  HOST: { schema: z.string().min(1), default: '0.0.0.0', description: 'Interface the HTTP/WebSocket server listens on.' },
  PORT: { schema: port, default: '4000', description: 'HTTP/WebSocket port (`0` picks a free one).' },
  NODE_ENV: { schema: z.enum(['development', 'production', 'test']), default: 'development', description: '`production` turns GraphiQL and introspection off by default.' },
  LOG_LEVEL: { schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), default: 'info', description: 'pino log level.' },
  DATA_DIR: { schema: z.string().min(1), default: './data', description: 'Embedded data: DynamoDB files, signing keys, mail outbox, uploaded files.' },
  GRAPHIQL: { schema: bool, description: 'Serve GraphiQL at `/graphql` in browsers. Default: on unless `NODE_ENV=production`.' },
  PUBLIC_URL: { schema: url, description: 'External base URL; the local identity provider uses it as token issuer. Default: `http://localhost:$PORT`.' },
  AWS_REGION: { schema: z.string().min(1), description: 'AWS region. Setting it (without `DYNAMODB_ENDPOINT`) switches storage from embedded dynalite to DynamoDB.' },
  DYNAMODB_ENDPOINT: { schema: url, description: 'DynamoDB-compatible endpoint (DynamoDB Local, dynalite). Unset with no `AWS_REGION`: embedded dynalite.' },
  DYNAMODB_CREATE_TABLES: { schema: bool, description: 'Create missing tables on start. Default: on for embedded storage and `DYNAMODB_ENDPOINT`, off on AWS (Terraform owns them).' },
  DYNAMODB_USERS_TABLE: { schema: z.string().min(3), default: 'gptql-users', description: 'Users (profiles, roles, local credentials, refresh sessions).' },
  DYNAMODB_CONVERSATIONS_TABLE: { schema: z.string().min(3), default: 'gptql-conversations', description: 'Conversations, keyed by owner.' },
  DYNAMODB_MESSAGES_TABLE: { schema: z.string().min(3), default: 'gptql-messages', description: 'Messages, keyed by conversation.' },
  DYNAMODB_FILES_TABLE: { schema: z.string().min(3), default: 'gptql-files', description: 'File metadata, keyed by owner.' },
  DYNAMODB_LABELS_TABLE: { schema: z.string().min(3), default: 'gptql-labels', description: 'Folders, and the entries that list a user\'s conversations by pin, archive, folder and tag.' },
  DYNAMODB_SHARES_TABLE: { schema: z.string().min(3), default: 'gptql-shares', description: 'Read-only snapshots of conversations shared by link.' },
  DYNAMODB_USAGE_TABLE: { schema: z.string().min(3), default: 'gptql-usage', description: 'Token usage counters per user and model per UTC day, and per-user quota overrides.' },
  DYNAMODB_USAGE_RECORDS_TABLE: { schema: z.string().min(3), default: 'gptql-usage-records', description: 'One usage record per generation (the ledger), expiring after `USAGE_RECORD_TTL_DAYS`.' },
  USAGE_RECORD_TTL_DAYS: { schema: positiveInt, default: '400', description: 'Days a generation\'s usage record is kept (DynamoDB TTL); the daily counters that reports and quotas read are kept for good.' },
  COGNITO_USER_POOL_ID: { schema: z.string().regex(/^[\w-]+_[0-9a-zA-Z]+$/, 'expected REGION_ID, e.g. eu-west-1_AbC123'), description: 'Cognito user pool. Set (with `COGNITO_CLIENT_ID`): the `cognito` identity provider replaces `local`.' },
  COGNITO_CLIENT_ID: { schema: z.string().min(1), description: 'Cognito app client id (USER_PASSWORD_AUTH and refresh enabled, no secret).' },
  COGNITO_ENDPOINT: { schema: url, description: 'Cognito-compatible endpoint (cognito-local in tests). Unset: AWS.' },
  COGNITO_ISSUER: { schema: url, description: 'Token issuer of a Cognito-compatible endpoint (JWKS at `$COGNITO_ISSUER/.well-known/jwks.json`). Unset: the AWS issuer of the pool.' },
  JWT_ISSUER: { schema: z.string().min(1), description: 'Issuer of tokens signed by the local provider. Default: `PUBLIC_URL`.' },
  JWT_CLIENT_ID: { schema: z.string().min(1), default: 'gptql', description: 'Client id (`client_id` / `aud`) of tokens signed by the local provider.' },
  ACCESS_TOKEN_TTL_SECONDS: { schema: positiveInt, default: '3600', description: 'Lifetime of local access and id tokens.' },
  REFRESH_TOKEN_TTL_SECONDS: { schema: positiveInt, default: '2592000', description: 'Lifetime of local refresh tokens (30 days).' },
  REDIS_URL: { schema: z.string().regex(/^rediss?:\/\//, 'expected redis:// or rediss://'), description: 'Redis for pub/sub, cache, rate limits and the job queue. Unset (and no `REDIS_HOST`): in-process.' },
  REDIS_HOST: { schema: z.string().min(1), description: 'Redis host, when `REDIS_URL` is not used.' },
  REDIS_PORT: { schema: port, default: '6379', description: 'Redis port, with `REDIS_HOST`.' },
  SQS_QUEUE_URL: { schema: url, description: 'SQS queue for generation jobs. Each model has a queue of its own, named after this one with `-<model>` appended (dots in the model name as `_`), e.g. `…/gptql-jobs-llama-3_2-1b`: create one per model served (Terraform\'s `models`). This queue itself takes jobs that name no model (enqueued by an earlier release). Unset: Redis Streams when Redis is configured, else in-process.' },
  S3_BUCKET_NAME: { schema: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'not a valid S3 bucket name'), description: 'S3 bucket for uploaded files. Unset: `DATA_DIR/files`.' },
  S3_ENDPOINT: { schema: url, description: 'S3-compatible endpoint (MinIO, s3rver), addressed path-style; credentials from the standard AWS variables, placeholders when none are set. Unset: AWS S3.' },
  UPLOAD_MAX_BYTES: { schema: positiveInt, default: '10485760', security: true, description: 'Largest file `uploadFile` accepts (10 MiB), counted while it is read; a larger one is refused and nothing is stored.' },
  FILE_CONTEXT_MAX_CHARS: { schema: positiveInt, default: '8000', description: 'Characters of attached text files given to the model with one message; the rest is cut, and the prompt says so.' },
  RATE_LIMIT_PER_MINUTE: { schema: positiveInt, default: '60', description: 'Generation requests (`sendMessage`, `regenerate`, `generate`, `generateStream`) per user per minute, role `users`.' },
  RATE_LIMIT_PREMIUM_PER_MINUTE: { schema: positiveInt, default: '300', description: 'The same for role `premium`; `admin` has no limit.' },
  QUOTA_USERS_TOKENS_PER_DAY: { schema: nonNegativeInt, default: '0', description: 'Tokens (prompt + completion) a user of role `users` may use per UTC day; `0`: unlimited. A request is refused with `QUOTA_EXCEEDED` once the day\'s tokens reach it; a generation already running when it is crossed finishes (within its `maxTokens`). Replies from the response cache do not count. An admin can override it per user (`setUserQuota`); `admin` has no quota.' },
  QUOTA_USERS_TOKENS_PER_MONTH: { schema: nonNegativeInt, default: '0', description: 'The same per UTC calendar month, role `users`; `0`: unlimited.' },
  QUOTA_PREMIUM_TOKENS_PER_DAY: { schema: nonNegativeInt, default: '0', description: 'Tokens per UTC day, role `premium`; `0`: unlimited.' },
  QUOTA_PREMIUM_TOKENS_PER_MONTH: { schema: nonNegativeInt, default: '0', description: 'Tokens per UTC calendar month, role `premium`; `0`: unlimited.' },
  SEARCH_INDEX_MAX_BYTES: { schema: positiveInt, default: '268435456', description: 'Memory each API process gives the search indexes of the users who search (256 MiB): a user\'s index is built from the database on their first search and kept current from conversation events; the least recently used go first, and are built again when next needed.' },
  MAX_MESSAGE_CHARS: { schema: positiveInt, default: '32000', security: true, description: 'Longest message or prompt a client may send, in characters.' },
  QUEUE_VISIBILITY_TIMEOUT_SECONDS: { schema: positiveInt, default: '30', description: 'A job not acknowledged (or kept alive by its worker) this long is delivered again, to another worker if its own died.' },
  ROUTING_HINT_TTL_SECONDS: { schema: z.coerce.number().int().min(0), default: '900', description: 'With the Redis queue: a conversation\'s next turn goes to the worker that served its last one (whose prefix cache holds it) when that worker is alive and has a free slot, for this long after the last turn; `0` turns routing off. A hint only: any worker takes the turn otherwise.' },
  QUEUE_MAX_DELIVERIES: { schema: positiveInt, default: '5', description: 'Deliveries after which a job goes to the dead-letter queue.' },
  GENERATION_TTL_SECONDS: { schema: positiveInt, default: '3600', description: 'How long a generation’s events stay replayable (`generation(id, after)`).' },
  RESPONSE_CACHE_TTL_SECONDS: { schema: z.coerce.number().int().min(0), default: '3600', description: 'How long replies to deterministic requests (temperature 0 or a seed) are cached; `0` turns the cache off.' },
  REDIS_KEY_PREFIX: { schema: z.string().regex(/^[\w:.-]{1,64}$/, 'letters, digits, _ : . - only'), default: 'gptql:', description: 'Prefix of every Redis key and channel, so that deployments can share a Redis.' },
  MODEL_PATH: { schema: modelList, description: 'Model folders a worker serves (Hugging Face layout with `onnx/model.onnx`), comma-separated: `name=path`, or `path` named after its folder. Names: letters, digits, `.` `_` `-`, at most 64 characters, each once. The first is the default model (`GenerationParams.model` unset). Each model gets an engine of its own. Unset: the shipped `model/default`.' },
  MODEL_DTYPE: { schema: z.enum(['fp32', 'fp16', 'int8', 'q4', 'q4f16', 'quantized']), default: 'fp32', description: 'Which ONNX file of each model folder to serve: `onnx/model.onnx` (fp32), `model_fp16.onnx`, `model_int8.onnx`, `model_q4.onnx`, `model_q4f16.onnx` or `model_quantized.onnx` (Optimum\'s `decoder_model_merged*.onnx` as fallback). A folder without it fails at start, listing the variants it has.' },
  MODEL_SIZE: { schema: z.string().regex(/^(tiny|10m|small|124m|355m|774m|1\.5b|2\.7b)$/, 'expected a size preset: tiny, 10m, small, 124m, 355m, 774m, 1.5b, 2.7b'), description: 'Without `MODEL_PATH`: serve this size preset with random weights (built once under `DATA_DIR/models`), for load tests.' },
  DEPENDENCY_TIMEOUT_MS: { schema: z.coerce.number().int().min(50).max(60_000), default: '2000', description: 'Longest wait for a Redis command, and for each attempt of a DynamoDB or S3 request (to connect, and for the server to answer; the AWS SDK makes up to 3 attempts, retrying throttling, timeouts and 5xx). A command that gets no answer within it fails, and the request that needed it answers `UNAVAILABLE` (HTTP 503 with `Retry-After`) rather than hanging. Blocking reads (the queue, subscriptions) are exempt.' },
  WORKER_DRAIN_SECONDS: { schema: z.coerce.number().min(0).max(3600), default: '90', description: 'How long a worker told to stop (SIGTERM) lets its running generations finish; those still running then are handed back to the queue, unacknowledged, and another worker goes on from the text already streamed. Keep it below the pod\'s `terminationGracePeriodSeconds`.' },
  UPSTREAM_OPENAI_URL: { schema: z.url().regex(/^https?:/, 'expected an http(s) URL'), description: 'An OpenAI-compatible server (vLLM, TGI, llama.cpp, another gptql) that serves `UPSTREAM_MODELS` for this worker, by its API base, e.g. `http://vllm:8000/v1`. The worker forwards their generations there and streams the answers as its own.' },
  UPSTREAM_OPENAI_API_KEY: { schema: z.string().min(1), security: true, description: 'Bearer key the worker sends to `UPSTREAM_OPENAI_URL`, if it needs one.' },
  UPSTREAM_MODELS: { schema: upstreamModelList, description: 'Models this worker serves through `UPSTREAM_OPENAI_URL`, comma-separated: `name=upstream-model` (e.g. `llama=meta-llama/Llama-3.2-1B-Instruct`), or the upstream name alone where it is a valid name here. After `MODEL_PATH`\'s models in the order of default; without `MODEL_PATH` the worker serves only these.' },
  UPSTREAM_TIMEOUT_SECONDS: { schema: z.coerce.number().positive(), default: '60', description: 'Longest wait for an upstream model server\'s first token (then the attempt is repeated) and between two tokens (then the generation fails with `UNAVAILABLE`).' },
  UPSTREAM_RETRIES: { schema: z.coerce.number().int().min(0).max(10), default: '2', description: 'Further attempts at an upstream request that failed before its first token (refused, 429, 5xx, timed out), with backoff.' },
  DEVICE: { schema: z.enum(['cpu', 'cuda']), default: 'cpu', description: 'ONNX Runtime execution provider for the worker. `cuda` fails at start-up if the CUDA provider is not installed.' },
  INFERENCE_THREADS: { schema: z.coerce.number().int().min(1).max(256), description: 'ONNX Runtime threads per operator. Default: one per core.' },
  INFERENCE_SPIN_WAIT: { schema: bool, default: 'false', description: 'Let ONNX Runtime threads spin between operators instead of sleeping: about 10% faster decoding of a single stream on cores nothing else needs, but CPU taken from the API and from batched decoding on shared ones.' },
  MAX_BATCH_SIZE: { schema: z.coerce.number().int().min(1).max(256), default: '8', description: 'Sequences decoded together in one step (continuous batching).' },
  KV_CACHE_DTYPE: { schema: z.enum(['fp32', 'fp16']), default: 'fp32', description: 'How the prefix cache (`PREFIX_CACHE_BYTES`) stores what it keeps: `fp16` halves its bytes, so twice as many conversations fit, and a turn restored from it then differs from one computed afresh in the last bits (rarely in a token). The cache of running sequences stays fp32 on CPU, where the graphs read it as float32.' },
  PREFIX_CACHE_BYTES: { schema: nonNegativeInt, description: 'Bytes of finished generations\' prompt KV cache each model\'s worker keeps, so that a prompt starting the same way (a conversation\'s next turn, regenerate, edit, a shared system prompt) computes only what follows; least recently used blocks go first; `0` turns it off. For models whose graph returns `new_key_values.*` (ours); others recompute every prompt. Default: an eighth of the machine\'s memory, at most 1 GiB.' },
  PREFILL_CHUNK_TOKENS: { schema: nonNegativeInt, default: '32', description: 'Prompt tokens a worker reads per step, between decode steps of the running batch, so that a long prompt arriving does not stall the other streams; `0` reads each prompt whole first. For models whose graph returns `new_key_values.*` (ours).' },
  MAX_QUEUED_REQUESTS: { schema: z.coerce.number().int().min(0).max(100_000), default: '64', description: 'Generations allowed to wait for a batch slot; one more is refused at once with `OVERLOADED`.' },
  GRAPHQL_INTROSPECTION: { schema: bool, security: true, description: 'Answer introspection queries. Default: on unless `NODE_ENV=production`. Off also hides field suggestions ("Did you mean …") in errors.' },
  PERSISTED_OPERATIONS: { schema: z.enum(['off', 'allow', 'require']), default: 'allow', security: true, description: 'Which GraphQL documents run: `allow` any document, or a persisted one by its SHA-256 (`documentId` or Apollo\'s `extensions.persistedQuery`): from `schema/persisted-operations.json` (the client operations, written by `npm run codegen`) or registered by automatic persisted queries (kept in Redis when configured); `require` only those of the manifest, by hash (a document is `PERSISTED_QUERY_ONLY`); `off` documents only.' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { schema: z.url().regex(/^https?:/, 'expected an http(s) URL'), description: 'Turns tracing on: OpenTelemetry spans (HTTP routes, GraphQL operations, DynamoDB and S3 calls, the queue hand-off, each worker job with its queue, prefill and decode phases) go to this OTLP/HTTP endpoint (`/v1/traces` is added), e.g. an OpenTelemetry Collector, Tempo or the AWS Distro. W3C `traceparent` headers are honoured, and jobs carry the trace to the worker. Unset: off, at no cost.' },
  OTEL_SERVICE_NAME: { schema: z.string().min(1).max(100), description: 'The `service.name` of this process\'s spans. Default: `gptql-api`, `gptql-worker` or `gptql` (role `all`).' },
  GRAPHQL_MAX_DEPTH: { schema: positiveInt, default: '10', security: true, description: 'Deepest field nesting in one operation (introspection excepted).' },
  GRAPHQL_MAX_ALIASES: { schema: positiveInt, default: '15', security: true, description: 'Aliases in one operation.' },
  GRAPHQL_MAX_TOKENS: { schema: positiveInt, default: '1000', security: true, description: 'Lexical tokens in one document; counted while parsing, so a huge document stops early.' },
  GRAPHQL_MAX_DIRECTIVES: { schema: positiveInt, default: '20', security: true, description: 'Directives in one operation.' },
  GRAPHQL_MAX_COST: { schema: positiveInt, default: '5000', security: true, description: 'Cost of one operation (every object field 2, scalar 1, times 1.5 per level of depth).' },
  GRAPHQL_DEFER: { schema: bool, default: 'false', description: 'Turns on `@defer` and `@stream` (yoga\'s defer-stream plugin): a client can ask for the slow parts of a query (a conversation\'s `messages` beside its header) to follow the rest in the same response (`multipart/mixed` or server-sent events). Off by default: the incremental delivery spec is not final, and clients must expect its format to change.' },
  GRAPHQL_MAX_BATCH: { schema: nonNegativeInt, default: '10', security: true, description: 'Operations in one batched HTTP request (a JSON array); `0` turns batching off.' },
  MAX_REQUEST_BODY_BYTES: { schema: positiveInt, default: '1048576', security: true, description: 'Largest HTTP request body (1 MiB); larger ones get 413 before they are read. Bodies must declare their length.' },
  ADMIN_EMAILS: { schema: commaList.pipe(z.array(z.email('not an email address'))), security: true, description: 'Accounts that get the `admin` role when they log in (the first log-in after confirming the sign-up, or any later one without the role), comma-separated; with either provider. How the first administrator is made. Taking an email off does not demote its account (`setUserRole` does).' },
  CORS_ORIGINS: { schema: commaList, security: true, description: 'Browser origins allowed to call the API cross-origin, comma-separated (`*`: any). Unset: same origin only.' },
  TRUST_PROXY: { schema: trustList, security: true, description: 'Proxies whose `X-Forwarded-For` names the client: a hop count (`1`), or addresses/subnets/`loopback`/`uniquelocal`, comma-separated. Unset: the socket address is the client.' },
  AUTH_RATE_LIMIT_PER_IP: { schema: positiveInt, default: '100', security: true, description: 'Sign-in, sign-up, code and refresh attempts per client IP per `AUTH_RATE_LIMIT_WINDOW_SECONDS`.' },
  AUTH_RATE_LIMIT_WINDOW_SECONDS: { schema: positiveInt, default: '900', security: true, description: 'Window of `AUTH_RATE_LIMIT_PER_IP`; an IP over the limit waits until it ends.' },
  AUTH_MAX_FAILED_ATTEMPTS: { schema: positiveInt, default: '5', security: true, description: 'Consecutive failed sign-ins to one account before its sign-in is locked.' },
  AUTH_LOCKOUT_SECONDS: { schema: positiveInt, default: '900', security: true, description: 'How long sign-in stays locked after `AUTH_MAX_FAILED_ATTEMPTS` (the owner can still reset the password).' },
  WS_MAX_OPERATIONS: { schema: positiveInt, default: '10', security: true, description: 'Concurrent operations (subscriptions) on one WebSocket.' },
  WS_MAX_CONNECTIONS_PER_USER: { schema: positiveInt, default: '10', security: true, description: 'Open WebSockets per user, per API process.' },
  WS_MAX_MESSAGE_BYTES: { schema: positiveInt, default: '65536', security: true, description: 'Largest WebSocket message a client may send.' },
  WS_INIT_TIMEOUT_SECONDS: { schema: positiveInt, default: '5', security: true, description: 'Time a new WebSocket has to send `connection_init` before it is closed.' },
} satisfies Record<string, VariableSpec>;

export type VariableName = keyof typeof CONFIG_VARIABLES;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Raw = { [K in VariableName]: z.output<(typeof CONFIG_VARIABLES)[K]['schema']> | undefined };

function readVariables(env: NodeJS.ProcessEnv): Raw {
  const problems: string[] = [];
  const raw: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(CONFIG_VARIABLES) as [VariableName, VariableSpec][]) {
    const given = env[name];
    const value = given === undefined || given === '' ? spec.default : given;
    if (value === undefined) continue;
    const parsed = spec.schema.safeParse(value);
    if (parsed.success) raw[name] = parsed.data;
    else problems.push(`${name}=${JSON.stringify(value)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return raw as Raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const v = readVariables(env);
  const problems: string[] = [];
  if (v.COGNITO_USER_POOL_ID && !v.COGNITO_CLIENT_ID) problems.push('COGNITO_CLIENT_ID is required when COGNITO_USER_POOL_ID is set');
  if (v.COGNITO_CLIENT_ID && !v.COGNITO_USER_POOL_ID) problems.push('COGNITO_USER_POOL_ID is required when COGNITO_CLIENT_ID is set');
  if (v.COGNITO_USER_POOL_ID && !v.AWS_REGION && !v.COGNITO_ENDPOINT) problems.push('AWS_REGION is required with COGNITO_USER_POOL_ID');
  if (v.REDIS_URL && v.REDIS_HOST) problems.push('set either REDIS_URL or REDIS_HOST/REDIS_PORT, not both');
  const dataDir = path.resolve(v.DATA_DIR!);
  const upstreamModels = v.UPSTREAM_MODELS ?? [];
  if (upstreamModels.length > 0 && !v.UPSTREAM_OPENAI_URL) problems.push('UPSTREAM_OPENAI_URL is required with UPSTREAM_MODELS');
  if (v.UPSTREAM_OPENAI_URL && upstreamModels.length === 0) problems.push('UPSTREAM_MODELS is required with UPSTREAM_OPENAI_URL: name the models it serves');
  // A worker in front of a model server runs no model of its own unless MODEL_PATH asks.
  const modelFolders = v.MODEL_PATH ?? (upstreamModels.length > 0 ? [] : [defaultModelFolder(dataDir, v.MODEL_SIZE)]);
  for (const { name } of upstreamModels) if (modelFolders.some((folder) => folder.name === name)) problems.push(`model name "${name}" is in both MODEL_PATH and UPSTREAM_MODELS; rename one`);
  if (v.SQS_QUEUE_URL) problems.push(...sqsModelQueueProblems(v.SQS_QUEUE_URL, [...modelFolders, ...upstreamModels]));
  if (problems.length > 0) throw new ConfigError(problems);

  const port = v.PORT!;
  const publicUrl = v.PUBLIC_URL ?? `http://localhost:${port}`;
  const production = v.NODE_ENV === 'production';
  const dynamoMode = v.DYNAMODB_ENDPOINT ? 'endpoint' : v.AWS_REGION ? 'aws' : 'embedded';

  const adminEmails = new Set((v.ADMIN_EMAILS ?? []).map((email) => email.toLowerCase()));
  return {
    role: v.ROLE!,
    host: v.HOST!,
    port,
    production,
    logLevel: v.LOG_LEVEL!,
    dataDir,
    graphiql: v.GRAPHIQL ?? !production,
    publicUrl,
    region: v.AWS_REGION ?? 'us-east-1',
    dynamo: {
      mode: dynamoMode as 'embedded' | 'endpoint' | 'aws',
      endpoint: v.DYNAMODB_ENDPOINT,
      createTables: v.DYNAMODB_CREATE_TABLES ?? dynamoMode !== 'aws',
      tables: {
        users: v.DYNAMODB_USERS_TABLE!,
        conversations: v.DYNAMODB_CONVERSATIONS_TABLE!,
        messages: v.DYNAMODB_MESSAGES_TABLE!,
        files: v.DYNAMODB_FILES_TABLE!,
        labels: v.DYNAMODB_LABELS_TABLE!,
        shares: v.DYNAMODB_SHARES_TABLE!,
        usage: v.DYNAMODB_USAGE_TABLE!,
        usageRecords: v.DYNAMODB_USAGE_RECORDS_TABLE!,
      },
    },
    search: { maxIndexBytes: v.SEARCH_INDEX_MAX_BYTES! },
    usage: {
      recordTtlDays: v.USAGE_RECORD_TTL_DAYS!,
      quotas: {
        users: { tokensPerDay: v.QUOTA_USERS_TOKENS_PER_DAY!, tokensPerMonth: v.QUOTA_USERS_TOKENS_PER_MONTH! },
        premium: { tokensPerDay: v.QUOTA_PREMIUM_TOKENS_PER_DAY!, tokensPerMonth: v.QUOTA_PREMIUM_TOKENS_PER_MONTH! },
      },
    },
    auth: v.COGNITO_USER_POOL_ID
      ? {
          provider: 'cognito' as const,
          userPoolId: v.COGNITO_USER_POOL_ID,
          clientId: v.COGNITO_CLIENT_ID!,
          endpoint: v.COGNITO_ENDPOINT,
          issuer: v.COGNITO_ISSUER,
          adminEmails,
        }
      : {
          provider: 'local' as const,
          issuer: v.JWT_ISSUER ?? publicUrl,
          clientId: v.JWT_CLIENT_ID!,
          accessTokenTtlSeconds: v.ACCESS_TOKEN_TTL_SECONDS!,
          refreshTokenTtlSeconds: v.REFRESH_TOKEN_TTL_SECONDS!,
          adminEmails,
        },
    redis: v.REDIS_URL
      ? { url: v.REDIS_URL }
      : v.REDIS_HOST
        ? { url: `redis://${v.REDIS_HOST}:${v.REDIS_PORT}` }
        : undefined,
    sqsQueueUrl: v.SQS_QUEUE_URL,
    files: {
      s3: v.S3_BUCKET_NAME
        ? {
            bucket: v.S3_BUCKET_NAME,
            endpoint: v.S3_ENDPOINT,
            // An S3 stand-in still needs signed requests; without credentials in the environment
            // (tests against s3rver) placeholders sign them.
            placeholderCredentials: Boolean(v.S3_ENDPOINT) && !env.AWS_ACCESS_KEY_ID,
          }
        : undefined,
      maxUploadBytes: v.UPLOAD_MAX_BYTES!,
      contextMaxChars: v.FILE_CONTEXT_MAX_CHARS!,
    },
    generation: {
      rateLimitPerMinute: v.RATE_LIMIT_PER_MINUTE!,
      premiumRateLimitPerMinute: v.RATE_LIMIT_PREMIUM_PER_MINUTE!,
      maxMessageChars: v.MAX_MESSAGE_CHARS!,
      visibilityTimeoutMs: v.QUEUE_VISIBILITY_TIMEOUT_SECONDS! * 1000,
      maxDeliveries: v.QUEUE_MAX_DELIVERIES!,
      routingHintTtlMs: v.ROUTING_HINT_TTL_SECONDS! * 1000,
      ttlSeconds: v.GENERATION_TTL_SECONDS!,
      cacheTtlSeconds: v.RESPONSE_CACHE_TTL_SECONDS!,
    },
    redisPrefix: v.REDIS_KEY_PREFIX!,
    model: {
      /** In MODEL_PATH's order: the first is the default model. */
      folders: modelFolders,
      /** Only without MODEL_PATH: its single folder is then built with random weights if missing. */
      size: v.MODEL_PATH ? undefined : v.MODEL_SIZE,
      /** Served through an OpenAI-compatible server, after the folders. */
      upstream: v.UPSTREAM_OPENAI_URL
        ? { url: v.UPSTREAM_OPENAI_URL, apiKey: v.UPSTREAM_OPENAI_API_KEY, models: upstreamModels, timeoutMs: v.UPSTREAM_TIMEOUT_SECONDS! * 1000, retries: v.UPSTREAM_RETRIES! }
        : undefined,
      dtype: v.MODEL_DTYPE!,
      device: v.DEVICE!,
    },
    inference: {
      threads: v.INFERENCE_THREADS,
      spinWait: v.INFERENCE_SPIN_WAIT!,
      maxBatchSize: v.MAX_BATCH_SIZE!,
      prefixCacheBytes: v.PREFIX_CACHE_BYTES ?? Math.min(2 ** 30, Math.floor(os.totalmem() / 8)),
      prefillChunkTokens: v.PREFILL_CHUNK_TOKENS!,
      kvCacheDtype: v.KV_CACHE_DTYPE!,
      maxQueuedRequests: v.MAX_QUEUED_REQUESTS!,
    },
    worker: { drainSeconds: v.WORKER_DRAIN_SECONDS! },
    dependencyTimeoutMs: v.DEPENDENCY_TIMEOUT_MS!,
    tracing: {
      endpoint: v.OTEL_EXPORTER_OTLP_ENDPOINT,
      serviceName: v.OTEL_SERVICE_NAME ?? (v.ROLE === 'all' ? 'gptql' : `gptql-${v.ROLE}`),
    },
    graphql: {
      introspection: v.GRAPHQL_INTROSPECTION ?? !production,
      maxDepth: v.GRAPHQL_MAX_DEPTH!,
      maxAliases: v.GRAPHQL_MAX_ALIASES!,
      maxTokens: v.GRAPHQL_MAX_TOKENS!,
      maxDirectives: v.GRAPHQL_MAX_DIRECTIVES!,
      maxCost: v.GRAPHQL_MAX_COST!,
      maxBatch: v.GRAPHQL_MAX_BATCH!,
      defer: v.GRAPHQL_DEFER!,
      persistedOperations: v.PERSISTED_OPERATIONS!,
    },
    http: {
      maxBodyBytes: v.MAX_REQUEST_BODY_BYTES!,
      corsOrigins: v.CORS_ORIGINS ?? [],
      trustProxy: v.TRUST_PROXY ?? [],
    },
    authLimits: {
      perIp: v.AUTH_RATE_LIMIT_PER_IP!,
      windowSeconds: v.AUTH_RATE_LIMIT_WINDOW_SECONDS!,
      maxFailedAttempts: v.AUTH_MAX_FAILED_ATTEMPTS!,
      lockoutSeconds: v.AUTH_LOCKOUT_SECONDS!,
    },
    websocket: {
      maxOperations: v.WS_MAX_OPERATIONS!,
      maxConnectionsPerUser: v.WS_MAX_CONNECTIONS_PER_USER!,
      maxMessageBytes: v.WS_MAX_MESSAGE_BYTES!,
      initTimeoutMs: v.WS_INIT_TIMEOUT_SECONDS! * 1000,
    },
  };
}

/** What a worker serves without MODEL_PATH: a MODEL_SIZE preset (built under DATA_DIR), else the shipped model. */
function defaultModelFolder(dataDir: string, size: string | undefined): ModelFolderEntry {
  if (!size) return { name: 'default', path: DEFAULT_MODEL_DIR };
  const name = `random-${size}`;
  return { name, path: path.join(dataDir, 'models', name) };
}

/** Each model's queue is named after SQS_QUEUE_URL's (`modelQueueUrl`): the names must be valid and distinct. */
function sqsModelQueueProblems(queueUrl: string, folders: readonly { name: string }[]): string[] {
  const problems: string[] = [];
  const owners = new Map<string, string>();
  for (const { name } of folders) {
    const queue = sqsQueueName(modelQueueUrl(queueUrl, name));
    if (!SQS_QUEUE_NAME.test(queue)) {
      problems.push(`model "${name}": its SQS queue name "${queue}" (SQS_QUEUE_URL's name + "-${name}") is not a valid SQS queue name (letters, digits, - _, at most 80 characters)`);
    }
    const other = owners.get(queue);
    if (other) problems.push(`models "${other}" and "${name}" would share the SQS queue "${queue}" (dots are written as _); rename one`);
    owners.set(queue, name);
  }
  return problems;
}

export type Config = ReturnType<typeof loadConfig>;
export type AuthConfig = Config['auth'];
export type LocalAuthConfig = Extract<AuthConfig, { provider: 'local' }>;
