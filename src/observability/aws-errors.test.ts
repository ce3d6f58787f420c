/**
 * The AWS SDK clients against a real local HTTP server that answers as DynamoDB and S3 do when
 * they throttle, fail or hang: each command is retried within its budget (3 attempts), then fails
 * with an error the API answers as UNAVAILABLE, counted once by kind; a conditional-write
 * conflict is the caller's answer, neither retried nor taken for an outage.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { connectDynamo, type Dynamo } from '../store/dynamo.ts';
import { createS3Storage } from '../files/storage-s3.ts';
import { dependencyErrorKind, isDependencyUnavailable, type DependencyErrorKind } from '../dependency-errors.ts';

type Answer = (response: http.ServerResponse) => void;
let answer: Answer;
let requests = 0;
let server: http.Server;
let endpoint: string;
let dataDir: string;

const json = (status: number, type: string) => (response: http.ServerResponse) => {
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
  response.end(JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: type }));
};

beforeAll(async () => {
  server = http.createServer((request, response) => {
    requests += 1;
    request.resume();
    request.on('end', () => answer(response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-aws-errors-'));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await fs.rm(dataDir, { recursive: true, force: true });
});

async function dynamoAt(url: string, counted: DependencyErrorKind[]): Promise<Dynamo> {
  const config = loadConfig({ DATA_DIR: dataDir, DYNAMODB_ENDPOINT: url, DYNAMODB_CREATE_TABLES: 'false', DEPENDENCY_TIMEOUT_MS: '300' });
  return connectDynamo(config, (kind) => counted.push(kind));
}

/** Sends one GetItem; what it threw, how many requests reached the server, how long it took. */
async function failedGet(dynamo: Dynamo) {
  requests = 0;
  const started = performance.now();
  const error = await dynamo.doc.send(new GetCommand({ TableName: 'gptql-users', Key: { userId: 'u' } })).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  return { error, requests, ms: performance.now() - started };
}

describe('DynamoDB client under faults', () => {
  let dynamo: Dynamo;
  const counted: DependencyErrorKind[] = [];
  beforeAll(async () => {
    dynamo = await dynamoAt(endpoint, counted);
  });
  afterAll(() => dynamo.close());

  it.each([
    ['throttling', 400, 'ProvisionedThroughputExceededException', 'throttled'],
    ['a 500', 500, 'InternalServerError', 'server'],
  ] as const)('retries %s three times in all, then fails as unavailable, counted once', async (_what, status, type, kind) => {
    counted.length = 0;
    answer = json(status, type);
    const { error, requests: sent } = await failedGet(dynamo);
    expect(sent).toBe(3);
    expect(dependencyErrorKind(error)).toBe(kind);
    expect(counted).toEqual([kind]);
  });

  it('gives up on a server that never answers after its attempts time out, instead of hanging', async () => {
    counted.length = 0;
    answer = () => {}; // holds every request open
    const { error, requests: sent, ms } = await failedGet(dynamo);
    expect(sent).toBe(3);
    expect(dependencyErrorKind(error)).toBe('timeout');
    // Three attempts of DEPENDENCY_TIMEOUT_MS (300) and the backoff between them.
    expect(ms).toBeLessThan(5_000);
    expect(counted).toEqual(['timeout']);
  });

  it('takes a refused connection for an outage', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const kinds: DependencyErrorKind[] = [];
    const gone = await dynamoAt(`http://127.0.0.1:${port}`, kinds);
    try {
      const { error } = await failedGet(gone);
      expect(dependencyErrorKind(error)).toBe('connection');
      expect(kinds).toEqual(['connection']);
    } finally {
      await gone.close();
    }
  });

  it('reports a conditional-write conflict as itself: sent once, not an outage, not counted', async () => {
    counted.length = 0;
    requests = 0;
    answer = json(400, 'ConditionalCheckFailedException');
    const error = await dynamo.doc
      .send(new PutCommand({ TableName: 'gptql-messages', Item: { conversationId: 'c', messageId: 'm' }, ConditionExpression: 'attribute_not_exists(messageId)' }))
      .then(() => undefined, (failure: unknown) => failure);
    expect((error as Error).name).toBe('ConditionalCheckFailedException');
    expect(requests).toBe(1);
    expect(isDependencyUnavailable(error)).toBe(false);
    expect(counted).toEqual([]);
  });
});

describe('S3 client under faults', () => {
  it('retries SlowDown and fails as throttled, counted once', async () => {
    const counted: DependencyErrorKind[] = [];
    const storage = createS3Storage({ bucket: 'files', region: 'us-east-1', endpoint, placeholderCredentials: true, timeoutMs: 300, onUnavailable: (kind) => counted.push(kind) });
    answer = (response) => {
      response.writeHead(503, { 'content-type': 'application/xml' });
      response.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
    };
    requests = 0;
    // A GET, which carries the error's code in its body (a HEAD's 503 could only be 'server').
    const error = await storage.get('user/file').then(() => undefined, (failure: unknown) => failure);
    storage.close();
    expect(requests).toBe(3);
    expect(dependencyErrorKind(error)).toBe('throttled');
    expect(counted).toEqual(['throttled']);
  });
});
