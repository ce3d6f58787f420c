/**
 * A worker told to stop (SIGTERM) mid-generation, as Kubernetes does: within WORKER_DRAIN_SECONDS
 * it finishes the generation itself; past it, it hands the generation back, and another worker
 * goes on from the text already streamed. Either way the generation completes, exactly one reply
 * is stored, and the worker exits cleanly. Real processes: an API and two workers sharing Redis
 * and dynalite, on a slow model (random weights of the `small` preset) so that a reply takes
 * seconds.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationDocument, CreateConversationDocument, GenerationEventsDocument, SendMessageDocument, type GenerationEventFieldsFragment } from '../../src/generated/graphql.ts';
import { postGraphQL, rawIdOf, signUpUser } from '../support/harness.ts';
import { startGptql, startSharedDynamo, type GptqlProcess } from '../support/processes.ts';
import { deleteKeys, redisForFile } from '../support/redis-keys.ts';
import { REDIS_URL } from '../support/services.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';
import { writeSlowModel } from '../support/tiny-model.ts';

type Event = GenerationEventFieldsFragment;

const redis = redisForFile();
const prefix = `gptql-test-drain-${crypto.randomUUID().slice(0, 8)}:`;
let dataDir: string;
let dynamo: Awaited<ReturnType<typeof startSharedDynamo>>;
let api: GptqlProcess;
/** Hands back at once (a drain of half a second); finishes its generations (a drain of a minute). */
let quick: GptqlProcess;
let patient: GptqlProcess;
let token: string;
let workerEnv: Record<string, string>;

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-drain-'));
  const model = path.join(dataDir, 'slow');
  writeSlowModel(model);
  dynamo = await startSharedDynamo();
  const env = { DATA_DIR: dataDir, DYNAMODB_ENDPOINT: dynamo.endpoint, REDIS_URL, REDIS_KEY_PREFIX: prefix, QUEUE_VISIBILITY_TIMEOUT_SECONDS: '3', INFERENCE_THREADS: '1', RATE_LIMIT_PER_MINUTE: '1000' };
  workerEnv = { ...env, MODEL_PATH: `slow=${model}` };
  // The patient worker starts later: until then, every job is the quick one's.
  [api, quick] = await Promise.all([startGptql('api', env), startGptql('worker', { ...workerEnv, WORKER_DRAIN_SECONDS: '0.5' })]);
  token = (await signUpUser(api.url, dataDir)).accessToken;
}, 120_000);

afterAll(async () => {
  await Promise.all([api, quick, patient].map((p) => p?.stop('SIGKILL')));
  await dynamo?.stop();
  await deleteKeys(redis, prefix);
  await fs.rm(dataDir, { recursive: true, force: true });
});

const gql = async <T>(document: Parameters<typeof print>[0], variables: Record<string, unknown>) => (await postGraphQL<T>(api.url, { query: print(document), variables }, token)).data!;

/** Starts a long reply; `onStreaming` runs once its first token has arrived; resolves with every event. */
async function longReply(onStreaming: () => void) {
  const conversationId = (await gql<{ createConversation: { id: string } }>(CreateConversationDocument, { input: { title: 'Drain' } })).createConversation.id;
  const sent = (await gql<{ sendMessage: { id: string } }>(SendMessageDocument, { input: { conversationId, content: 'Tell me everything', params: { maxTokens: 400, minTokens: 400 } } })).sendMessage;
  const client = wsClient(api.url, token);
  let streaming = false;
  const results = await collectSubscription(client, GenerationEventsDocument, { id: sent.id, after: 0 }, () => {
    if (!streaming) onStreaming();
    streaming = true;
  });
  await client.dispose();
  const events = results.map((r) => r.data!.generation as Event);
  const replies = (await gql<{ conversation: { messages: { edges: { node: { role: string; content: string; completionTokens: number | null } }[] } } }>(ConversationDocument, { id: conversationId })).conversation.messages.edges
    .map(({ node: { role, content, completionTokens } }) => ({ role, content, completionTokens }))
    .filter((m) => m.role === 'ASSISTANT');
  return { generationId: sent.id, events, replies };
}

const exitOf = (worker: GptqlProcess) => new Promise<number | null>((resolve) => (worker.child.exitCode !== null ? resolve(worker.child.exitCode) : worker.child.once('exit', (code) => resolve(code))));

describe('a worker stopped mid-generation (SIGTERM)', () => {
  it('past WORKER_DRAIN_SECONDS hands the generation back: another worker completes it, one reply stored', async () => {
    // The quick worker is told to stop as the first token arrives; once it has gone, a second
    // worker starts, takes the job when its visibility lapses, and goes on from the text streamed.
    let exited: Promise<number | null> | undefined;
    const { generationId, events, replies } = await longReply(() => {
      quick.child.kill('SIGTERM');
      exited = exitOf(quick).then(async (code) => {
        patient = await startGptql('worker', { ...workerEnv, WORKER_DRAIN_SECONDS: '60' });
        return code;
      });
    });
    const last = events.at(-1)!;
    expect(last).toMatchObject({ __typename: 'GenerationCompleted', finishReason: 'LENGTH' });
    if (last.__typename !== 'GenerationCompleted') return;
    expect(replies).toEqual([{ role: 'ASSISTANT', content: last.text, completionTokens: expect.any(Number) }]);
    expect(events.filter((e) => e.__typename === 'GenerationToken').map((e) => (e.__typename === 'GenerationToken' ? e.delta : '')).join('')).toBe(last.text);
    expect(await exited).toBe(0);
    expect(quick.output()).toContain('drain time is up: handing the running generations back to the queue');
    expect(quick.output()).toContain(rawIdOf(generationId));
    expect(patient.output()).toContain('resuming a redelivered generation');
  }, 60_000);

  it('within WORKER_DRAIN_SECONDS finishes the generation itself, then exits', async () => {
    expect(patient, 'started by the test before').toBeDefined();
    let exited: Promise<number | null> | undefined;
    const { events, replies } = await longReply(() => {
      patient.child.kill('SIGTERM');
      exited = exitOf(patient);
    });
    const last = events.at(-1)!;
    expect(last).toMatchObject({ __typename: 'GenerationCompleted', finishReason: 'LENGTH', usage: { completionTokens: 400 } });
    if (last.__typename !== 'GenerationCompleted') return;
    expect(replies).toEqual([{ role: 'ASSISTANT', content: last.text, completionTokens: 400 }]);
    expect(await exited).toBe(0);
    expect(patient.output()).not.toContain('handing the running generations back');
  }, 60_000);
});
