/**
 * DynamoDB going away under a generation on its last allowed delivery (QUEUE_MAX_DELIVERIES=1):
 * the reply cannot be stored and no other delivery will come, so the worker reports the failure
 * on the stream (UNAVAILABLE) instead of leaving the job to be dead-lettered unseen; nothing is
 * stored, and the user's message is kept. (With deliveries left, the job is left for another
 * delivery instead: dependency-faults.test.ts.)
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationDocument, GenerationEventsDocument, SendMessageDocument, type GenerationEventFieldsFragment } from '../../src/generated/graphql.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { privateDynalite, type PrivateServer } from '../support/private-services.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';
import { writeSlowModel } from '../support/tiny-model.ts';

type Event = GenerationEventFieldsFragment;

let dir: string;
let dynamo: PrivateServer;
let t: TestApp;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-dynamo-outage-'));
  dynamo = await privateDynalite(path.join(dir, 'dynamo'));
  await dynamo.start();
  // A slow model: a reply takes seconds, time to pull DynamoDB from under it.
  const slow = writeSlowModel(path.join(dir, 'slow'));
  t = await startTestApp(
    { ROLE: 'all', DYNAMODB_ENDPOINT: dynamo.url, MODEL_PATH: `slow=${slow}`, QUEUE_MAX_DELIVERIES: '1', DEPENDENCY_TIMEOUT_MS: '300', INFERENCE_THREADS: '1' },
    path.join(dir, 'app'),
  );
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await dynamo?.kill();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('DynamoDB gone under a generation on its last delivery', () => {
  it('streams GenerationFailed UNAVAILABLE, stores no reply, and keeps the user message', async () => {
    const user = await t.newUser();
    const sent = await t.gql(SendMessageDocument, { input: { content: 'Tell me everything', params: { maxTokens: 200, minTokens: 200 } } }, user.accessToken);
    const generation = sent.data!.sendMessage;
    const client = wsClient(t.url, user.accessToken);
    let killed: Promise<void> | undefined;
    const events = (
      await collectSubscription(client, GenerationEventsDocument, { id: generation.id, after: 0 }, () => {
        killed ??= dynamo.kill();
      })
    ).map((result) => result.data!.generation as Event);
    await client.dispose();
    const end = events.at(-1)!;
    expect(end).toMatchObject({ __typename: 'GenerationFailed', code: 'UNAVAILABLE' });
    expect(events.filter((event) => event.__typename === 'GenerationToken').length).toBeGreaterThan(0);

    await killed;
    await dynamo.start();
    const conversation = await t.gql(ConversationDocument, { id: generation.conversation!.id }, user.accessToken);
    expect(conversation.data!.conversation!.messages.edges.map((edge) => edge.node.role)).toEqual(['USER']);
  }, 60_000);
});
