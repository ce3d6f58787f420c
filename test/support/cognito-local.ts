/**
 * Test helper: a real cognito-local server in a child process, with a fresh user pool, the
 * role groups and an app client, torn down by `stop()`.
 *
 * A child process rather than in-process because cognito-local keeps its state under
 * `./.cognito` relative to the working directory and reads its port from the environment at
 * import time; a child gets its own cwd and env without touching the test worker's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CognitoIdentityProviderClient,
  CreateGroupCommand,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import type { CognitoProviderOptions } from '../../src/auth/cognito.ts';
import { freePort } from './private-services.ts';
import { ROLES } from '../../src/auth/identity.ts';

export interface CognitoLocal {
  /** `http://127.0.0.1:<port>`: the SDK endpoint. */
  endpoint: string;
  region: string;
  /** Any credentials do; cognito-local does not check signatures. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  userPoolId: string;
  /** The default app client: no secret, USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH. */
  clientId: string;
  /** `http://127.0.0.1:<port>/<userPoolId>`: what cognito-local puts in `iss`. */
  issuer: string;
  /** `<issuer>/.well-known/jwks.json` */
  jwksUri: string;
  /** Options for `createCognitoProvider` against this server (optionally another client). */
  providerOptions(clientId?: string): CognitoProviderOptions;
  /** Adds another app client to the pool, e.g. one whose access tokens expire within seconds. */
  createClient(options?: ClientOptions): Promise<string>;
  /**
   * The confirmation or password-reset code cognito-local holds for this email right now: the
   * latest one sent (each new code replaces the previous; a used code is cleared). Waits
   * briefly for one to appear, then throws.
   */
  readLatestCode(email: string): Promise<string>;
  /** Kills the server and removes its data directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface ClientOptions {
  /** Access-token lifetime; cognito-local accepts any, AWS at least 5 minutes. */
  accessTokenValiditySeconds?: number;
}

export interface StartCognitoLocalOptions {
  /** How long to wait for the server to answer; generous for 2-core CI. */
  startTimeoutMs?: number;
}

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const HOST = '127.0.0.1';

export async function startCognitoLocal(
  options: StartCognitoLocalOptions = {},
): Promise<CognitoLocal> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cognito-local-'));
  let server: RunningServer | undefined;
  try {
    server = await startServer(dataDir, options.startTimeoutMs ?? 60_000);
    return await setUp(server, dataDir);
  } catch (error) {
    await server?.kill();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

async function setUp(server: RunningServer, dataDir: string): Promise<CognitoLocal> {
  const endpoint = `http://${HOST}:${server.port}`;
  const sdk = new CognitoIdentityProviderClient({
    region: REGION,
    endpoint,
    credentials: CREDENTIALS,
  });
  try {
    const { UserPool } = await sdk.send(
      new CreateUserPoolCommand({
        PoolName: 'gptql-test',
        UsernameAttributes: ['email'],
        // Without this cognito-local (like AWS) sends no code at sign-up.
        AutoVerifiedAttributes: ['email'],
      }),
    );
    const userPoolId = required(UserPool?.Id, 'CreateUserPool returned no Id');
    for (const group of ROLES) {
      await sdk.send(new CreateGroupCommand({ UserPoolId: userPoolId, GroupName: group }));
    }

    const createClient = async ({ accessTokenValiditySeconds }: ClientOptions = {}) => {
      const { UserPoolClient } = await sdk.send(
        new CreateUserPoolClientCommand({
          UserPoolId: userPoolId,
          ClientName: 'gptql-test',
          GenerateSecret: false,
          ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
          EnableTokenRevocation: true,
          // AWS's floor is 5 minutes; cognito-local accepts seconds, which lets tests see
          // a genuinely expired token that cognito-local itself signed.
          ...(accessTokenValiditySeconds === undefined
            ? {}
            : {
                AccessTokenValidity: accessTokenValiditySeconds,
                TokenValidityUnits: { AccessToken: 'seconds' },
              }),
        }),
      );
      return required(UserPoolClient?.ClientId, 'CreateUserPoolClient returned no ClientId');
    };
    const clientId = await createClient();
    const issuer = `${endpoint}/${userPoolId}`;
    const jwksUri = `${issuer}/.well-known/jwks.json`;
    const poolFile = join(dataDir, '.cognito', 'db', `${userPoolId}.json`);

    let stopped: Promise<void> | undefined;
    return {
      endpoint,
      region: REGION,
      credentials: CREDENTIALS,
      userPoolId,
      clientId,
      issuer,
      jwksUri,
      providerOptions: (otherClientId = clientId) => ({
        region: REGION,
        credentials: CREDENTIALS,
        endpoint,
        userPoolId,
        clientId: otherClientId,
        issuer,
        jwksUri,
      }),
      createClient,
      readLatestCode: (email) => readLatestCode(poolFile, email),
      stop: () =>
        (stopped ??= (async () => {
          sdk.destroy();
          await server.kill();
          await rm(dataDir, { recursive: true, force: true });
        })()),
    };
  } catch (error) {
    sdk.destroy();
    throw error;
  }
}

interface PoolFile {
  Users?: Record<string, StoredUser>;
}

interface StoredUser {
  Attributes?: { Name: string; Value?: string }[];
  ConfirmationCode?: string;
}

/**
 * Reads the code from the pool's data file rather than from the "Confirmation Code Delivery"
 * console box: cognito-local awaits the file write before answering the request that created
 * the code, so once the SDK call has returned the file is authoritative, whereas the child's
 * stdout reaches us through a pipe at its own pace. The file is rewritten in place (not
 * atomically), so a read can catch it half-written; that is retried like a missing code.
 */
async function readLatestCode(poolFile: string, email: string): Promise<string> {
  const wanted = email.trim().toLowerCase();
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      const pool = JSON.parse(await readFile(poolFile, 'utf8')) as PoolFile;
      const user = Object.values(pool.Users ?? {}).find((candidate) =>
        candidate.Attributes?.some((a) => a.Name === 'email' && a.Value?.toLowerCase() === wanted),
      );
      if (user?.ConfirmationCode) return user.ConfirmationCode;
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
    }
    if (Date.now() > deadline) throw new Error(`cognito-local holds no pending code for ${email}`);
    await sleep(50);
  }
}

interface RunningServer {
  port: number;
  kill(): Promise<void>;
}

async function startServer(dataDir: string, timeoutMs: number): Promise<RunningServer> {
  // The port is picked before the server binds it, so another process can take it in between;
  // the server then exits at once and we try another port.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawnServer(dataDir, port);
    try {
      await waitUntilHealthy(child, port, timeoutMs);
      return { port, kill: () => kill(child) };
    } catch (error) {
      lastError = error;
      await kill(child);
      if (!(error instanceof ServerExitedError)) break;
    }
  }
  throw lastError;
}

class ServerExitedError extends Error {}

function spawnServer(dataDir: string, port: number): ChildProcess & { output: string[] } {
  const packageDir = dirname(createRequire(import.meta.url).resolve('cognito-local/package.json'));
  const bin = join(packageDir, 'lib', 'bin', 'start.js');
  const child = spawn(process.execPath, [bin], {
    cwd: dataDir,
    env: {
      ...process.env,
      // PORT and HOST also make up the token issuer: http://HOST:PORT/<poolId>.
      PORT: String(port),
      HOST,
      NO_COLOR: '1',
      AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Kept for the error message when the server does not come up.
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString());
    if (output.length > 200) output.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // If the test process exits without calling stop(), do not leave the server running.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  return Object.assign(child, { output });
}

async function waitUntilHealthy(
  child: ChildProcess & { output: string[] },
  port: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const output = child.output.join('');
      throw new ServerExitedError(`cognito-local exited during start-up:\n${output}`);
    }
    try {
      const response = await fetch(`http://${HOST}:${port}/health`, {
        signal: AbortSignal.timeout(2_000),
      });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`cognito-local did not answer within ${timeoutMs} ms:\n${child.output.join('')}`);
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

function required<T>(value: T | undefined, message: string): T {
  if (value === undefined) throw new Error(message);
  return value;
}
