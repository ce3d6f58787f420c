import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConversationsDocument, CreateConversationDocument } from '../../src/generated/graphql.ts';
import { postGraphQL, startTestApp } from '../support/harness.ts';
import { print } from 'graphql';

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-restart-'));
// Tokens name their issuer; every process here must be the same issuer whatever its port.
const PUBLIC_URL = 'http://gptql.test';
afterAll(() => fs.rm(dataDir, { recursive: true, force: true }));

/** Runs the real entry point (`npm start`'s command) until it listens; stops it with SIGTERM. */
async function startMain(port: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    // REDIS_URL may be set for the Redis suites (test/support/services.ts); this one is embedded.
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info', PUBLIC_URL, REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('api listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      return exited;
    },
  };
}

describe('embedded data survives a restart', () => {
  it('keeps conversations created before the process stopped', async () => {
    // Sign up through an in-process app on the same data folder, then stop it.
    const setup = await startTestApp({ PUBLIC_URL }, dataDir);
    const user = await setup.newUser();
    await setup.stop();

    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const first = await startMain(port);
    const created = await postGraphQL<{ createConversation: { id: string } }>(
      first.url,
      { query: print(CreateConversationDocument), variables: { input: { title: 'before restart' } } },
      user.accessToken,
    );
    expect(created.data?.createConversation.id).toBeTruthy();
    expect(await first.stop()).toBe(0);

    const second = await startMain(port);
    try {
      const listed = await postGraphQL<{ conversations: { edges: { node: { id: string; title: string } }[] } }>(
        second.url,
        { query: print(ConversationsDocument) },
        user.accessToken, // same signing key on disk: the old token is still good
      );
      expect(listed.data?.conversations.edges.map((e) => e.node)).toEqual([
        expect.objectContaining({ id: created.data!.createConversation.id, title: 'before restart' }),
      ]);
    } finally {
      await second.stop();
    }
  });
});
