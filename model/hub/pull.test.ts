import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readModelFolder } from '../../src/inference/model-folder.ts';
import { HubClient } from './client.ts';
import { PullErrorCode, formatBytes } from './errors.ts';
import { startFakeHub, type FakeHub } from './fake-hub.ts';
import { pullModel, type PullOptions } from './pull.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = join(ROOT, 'test/fixtures/hf-tiny/llama-gqa');
const REPO = 'tiny/llama-gqa';
const FOLDER_FILES = ['chat_template.jinja', 'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'];


let hub: FakeHub;
let root: string;
let external: string;

function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .sort();
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'gptql-pull-'));
  // A repository whose model keeps its weights in external data files.
  external = join(root, 'repo-external');
  mkdirSync(join(external, 'onnx'), { recursive: true });
  for (const f of ['config.json', 'tokenizer.json']) writeFileSync(join(external, f), readFileSync(join(FIXTURE, f)));
  writeFileSync(join(external, 'onnx/model.onnx'), 'graph');
  writeFileSync(join(external, 'onnx/model.onnx_data'), Buffer.alloc(5000, 1));
  writeFileSync(join(external, 'onnx/model_fp16.onnx_data'), Buffer.alloc(10, 2));
  hub = await startFakeHub({
    repos: {
      [REPO]: { dir: FIXTURE },
      'tiny/private': { dir: FIXTURE, private: true, tokens: ['good'] },
      'tiny/gated': { dir: FIXTURE, gated: true, tokens: ['good'] },
      'tiny/external': { dir: external },
    },
    tokens: ['good', 'other'],
  });
});

afterAll(async () => {
  await hub?.close();
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  hub.requests.length = 0;
  hub.cutAfter.clear();
  hub.stallAfter.clear();
  hub.corrupt.clear();
  hub.ignoreRange.clear();
});

const out = (name: string) => join(root, name);
const pull = (name: string, options: Partial<PullOptions> & { token?: string } = {}) => {
  const { token, ...rest } = options;
  return pullModel({ repo: REPO, out: out(name), client: new HubClient({ endpoint: hub.endpoint, token }), retries: 0, retryDelayMs: 0, ...rest });
};
const fileRequests = () => hub.requests.filter((r) => r.file !== undefined);
const leftBehind = (name: string) => [out(name), `${out(name)}.partial`].filter((p) => existsSync(p));

describe('model pull', () => {
  it('fetches exactly what the q4 variant needs, at the listed commit, and the folder loads', async () => {
    const result = await pull('q4', { dtype: 'q4' });
    expect(tree(out('q4'))).toEqual([...FOLDER_FILES.slice(0, 3), 'onnx/model_q4.onnx', ...FOLDER_FILES.slice(3)]);
    for (const f of tree(out('q4'))) expect(readFileSync(join(out('q4'), f)).equals(readFileSync(join(FIXTURE, f))), f).toBe(true);
    expect(leftBehind('q4')).toEqual([out('q4')]);
    expect(result).toMatchObject({ dir: out('q4'), commit: hub.commit });
    expect(hub.requests[0]!.path).toBe(`/api/models/${REPO}/revision/main`);
    for (const r of hub.requests.filter((r) => r.server === 'hub').slice(1)) expect(r.path).toContain(`/resolve/${hub.commit}/`);
    // The ONNX file is an LFS file: it came from the CDN, through the redirect.
    expect(fileRequests().filter((r) => r.server === 'cdn').map((r) => r.file)).toEqual(['onnx/model_q4.onnx']);
    const folder = readModelFolder(out('q4'), 'q4');
    expect(folder.onnxPath).toBe(join(out('q4'), 'onnx/model_q4.onnx'));
    expect(folder.architecture).toBe('LlamaForCausalLM');
  });

  it('defaults to fp32 at main, a folder readModelFolder serves as it is', async () => {
    await pull('fp32');
    expect(tree(out('fp32'))).toContain('onnx/model.onnx');
    expect(tree(out('fp32')).filter((f) => f.startsWith('onnx/'))).toEqual(['onnx/model.onnx']);
    expect(readModelFolder(out('fp32')).onnxPath).toBe(join(out('fp32'), 'onnx/model.onnx'));
  });

  it('fetches the external data files beside the model', async () => {
    await pull('external', { repo: 'tiny/external' });
    expect(tree(out('external'))).toEqual(['config.json', 'onnx/model.onnx', 'onnx/model.onnx_data', 'tokenizer.json']);
  });

  it('fails on an interrupted transfer, keeps the partial file, and a rerun resumes it with Range', async () => {
    hub.cutAfter.set('onnx/model.onnx', 100_000);
    const error = await pull('resume').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: PullErrorCode.INTERRUPTED });
    const kept = statSync(join(`${out('resume')}.partial`, 'onnx/model.onnx')).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(100_000);
    expect((error as Error).message).toBe(
      `download of onnx/model.onnx interrupted after ${formatBytes(kept)} of 723.6 kB: terminated (other side closed)\n` +
        `The partial download is kept in ${out('resume')}.partial: run the same command again to resume.`,
    );
    expect(existsSync(out('resume'))).toBe(false);

    hub.requests.length = 0;
    const result = await pull('resume');
    // Only the rest of the interrupted file travelled; the files finished before were kept.
    expect(fileRequests().map((r) => [r.server, r.file, r.range, r.status])).toEqual([['cdn', 'onnx/model.onnx', `bytes=${kept}-`, 206]]);
    expect(result.received).toBe(statSync(join(FIXTURE, 'onnx/model.onnx')).size - kept);
    expect(readFileSync(join(out('resume'), 'onnx/model.onnx')).equals(readFileSync(join(FIXTURE, 'onnx/model.onnx')))).toBe(true);
    expect(leftBehind('resume')).toEqual([out('resume')]);
    expect(tree(out('resume'))).not.toContain('.gptql-pull.json');
  });

  it('retries a dropped connection from where it stopped within one run', async () => {
    hub.cutAfter.set('onnx/model_q4.onnx', 50_000);
    await pull('retry', { dtype: 'q4', retries: 2 });
    const ranges = fileRequests().filter((r) => r.file === 'onnx/model_q4.onnx').map((r) => r.range);
    expect(ranges).toHaveLength(2);
    expect(ranges[0]).toBeUndefined();
    expect(ranges[1]).toMatch(/^bytes=[1-9]\d*-$/);
    expect(readFileSync(join(out('retry'), 'onnx/model_q4.onnx')).equals(readFileSync(join(FIXTURE, 'onnx/model_q4.onnx')))).toBe(true);
  });

  it('drops a connection that falls silent and resumes on a new one', async () => {
    hub.stallAfter.set('onnx/model_q4.onnx', 20_000);
    await pull('stall', { dtype: 'q4', retries: 1, idleTimeoutMs: 150 });
    expect(fileRequests().filter((r) => r.file === 'onnx/model_q4.onnx').map((r) => r.range)).toEqual([undefined, 'bytes=20000-']);
    expect(readFileSync(join(out('stall'), 'onnx/model_q4.onnx')).equals(readFileSync(join(FIXTURE, 'onnx/model_q4.onnx')))).toBe(true);
  });

  it('starts a file over when the server ignores Range', async () => {
    hub.cutAfter.set('onnx/model_q4.onnx', 50_000);
    await expect(pull('norange', { dtype: 'q4' })).rejects.toMatchObject({ code: PullErrorCode.INTERRUPTED });
    const kept = statSync(join(`${out('norange')}.partial`, 'onnx/model_q4.onnx')).size;
    expect(kept).toBeGreaterThan(0);
    hub.requests.length = 0;
    hub.ignoreRange.add('onnx/model_q4.onnx');
    const result = await pull('norange', { dtype: 'q4' });
    expect(fileRequests().map((r) => [r.range, r.status])).toEqual([[`bytes=${kept}-`, 200]]);
    expect(result.received).toBe(statSync(join(FIXTURE, 'onnx/model_q4.onnx')).size);
    expect(readFileSync(join(out('norange'), 'onnx/model_q4.onnx')).equals(readFileSync(join(FIXTURE, 'onnx/model_q4.onnx')))).toBe(true);
  });

  it('discards a partial folder left by a pull of another dtype', async () => {
    hub.cutAfter.set('onnx/model.onnx', 10_000);
    await expect(pull('switch')).rejects.toMatchObject({ code: PullErrorCode.INTERRUPTED });
    await pull('switch', { dtype: 'q4' });
    expect(tree(out('switch')).filter((f) => f.startsWith('onnx/'))).toEqual(['onnx/model_q4.onnx']);
  });

  it('refuses a file whose SHA-256 is not the announced one, and keeps nothing', async () => {
    hub.corrupt.add('onnx/model_q4.onnx');
    const good = readFileSync(join(FIXTURE, 'onnx/model_q4.onnx'));
    const bad = Buffer.from(good);
    bad[bad.length >> 1]! ^= 0xff;
    await expect(pull('corrupt', { dtype: 'q4' })).rejects.toMatchObject({
      code: PullErrorCode.CHECKSUM_MISMATCH,
      message: `checksum mismatch for onnx/model_q4.onnx: expected sha256 ${sha256(good)}, got ${sha256(bad)} (nothing was kept)`,
    });
    expect(leftBehind('corrupt')).toEqual([]);
  });

  it("checks small files against their git blob id", async () => {
    hub.corrupt.add('config.json');
    await expect(pull('corrupt-config')).rejects.toMatchObject({ code: PullErrorCode.CHECKSUM_MISMATCH, message: expect.stringMatching(/^checksum mismatch for config.json: expected git blob sha1 [0-9a-f]{40}, got [0-9a-f]{40}/) });
    expect(leftBehind('corrupt-config')).toEqual([]);
  });

  it('says which model is missing, and that private ones need HF_TOKEN', async () => {
    // The Hub answers 401 RepoNotFound without a token (private repositories look missing), 404 with one.
    await expect(pull('nope', { repo: 'tiny/nope' })).rejects.toMatchObject({
      code: PullErrorCode.REPO_NOT_FOUND,
      message: `no model tiny/nope on ${hub.endpoint} (or it is private: set HF_TOKEN)`,
    });
    await expect(pull('nope', { repo: 'tiny/nope', token: 'good' })).rejects.toMatchObject({
      code: PullErrorCode.REPO_NOT_FOUND,
      message: `no model tiny/nope on ${hub.endpoint} (or it is private and HF_TOKEN has no access to it)`,
    });
    await expect(pull('nope', { repo: 'tiny/private' })).rejects.toMatchObject({ code: PullErrorCode.REPO_NOT_FOUND });
    expect(leftBehind('nope')).toEqual([]);
  });

  it('sends HF_TOKEN as a Bearer token to the Hub and never to the CDN it redirects to', async () => {
    await pull('private', { repo: 'tiny/private', token: 'good', dtype: 'q4' });
    const hubAuth = hub.requests.filter((r) => r.server === 'hub').map((r) => r.authorization);
    expect(hubAuth.length).toBeGreaterThan(1);
    expect(new Set(hubAuth)).toEqual(new Set(['Bearer good']));
    const cdn = hub.requests.filter((r) => r.server === 'cdn');
    expect(cdn).toHaveLength(1);
    expect(cdn[0]!.authorization).toBeUndefined();
  });

  it('tells how to get at a gated model', async () => {
    const page = `${hub.endpoint}/tiny/gated`;
    await expect(pull('gated', { repo: 'tiny/gated' })).rejects.toMatchObject({
      code: PullErrorCode.ACCESS_DENIED,
      message: `tiny/gated is gated or private: set HF_TOKEN to an access token of an account that has accepted the licence on ${page}`,
    });
    expect(fileRequests()).toEqual([]);
    await expect(pull('gated', { repo: 'tiny/gated', token: 'other' })).rejects.toMatchObject({
      code: PullErrorCode.ACCESS_DENIED,
      message: expect.stringContaining(`HF_TOKEN has no access to tiny/gated: accept the licence on ${page}`),
    });
    expect(hub.requests.some((r) => r.status === 403)).toBe(true);
    expect(leftBehind('gated')).toEqual([]);
    await pull('gated', { repo: 'tiny/gated', token: 'good', dtype: 'q4' });
  });

  it('says when HF_TOKEN itself is refused', async () => {
    await expect(pull('badtoken', { token: 'forged' })).rejects.toMatchObject({ code: PullErrorCode.BAD_TOKEN, message: expect.stringContaining('refused HF_TOKEN') });
  });

  it('lists the dtypes the repository has when the asked one is missing', async () => {
    await expect(pull('q4f16', { dtype: 'q4f16' })).rejects.toMatchObject({
      code: PullErrorCode.NO_VARIANT,
      message: expect.stringContaining('this repo has: fp32, fp16, int8, q4'),
    });
    expect(fileRequests()).toEqual([]);
    expect(leftBehind('q4f16')).toEqual([]);
  });

  it('says when the endpoint cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    await expect(pullModel({ repo: REPO, out: out('unreachable'), client: new HubClient({ endpoint }) })).rejects.toMatchObject({
      code: PullErrorCode.UNREACHABLE,
      message: expect.stringMatching(new RegExp(`^cannot reach ${endpoint}: fetch failed \\(.*ECONNREFUSED`)),
    });
    expect(leftBehind('unreachable')).toEqual([]);
  });

  it('names a revision that does not exist', async () => {
    await expect(pull('rev', { revision: 'v9' })).rejects.toMatchObject({ code: PullErrorCode.REVISION_NOT_FOUND, message: `no revision "v9" in ${REPO} on ${hub.endpoint}` });
  });

  it('refuses to replace an existing folder unless forced, and then only once the new one is whole', async () => {
    mkdirSync(out('existing'));
    writeFileSync(join(out('existing'), 'old.txt'), 'old');
    await expect(pull('existing')).rejects.toMatchObject({ code: PullErrorCode.DESTINATION_EXISTS, message: expect.stringContaining('pass --force') });
    hub.corrupt.add('onnx/model_q4.onnx');
    await expect(pull('existing', { dtype: 'q4', force: true })).rejects.toMatchObject({ code: PullErrorCode.CHECKSUM_MISMATCH });
    expect(tree(out('existing'))).toEqual(['old.txt']);
    hub.corrupt.clear();
    await pull('existing', { dtype: 'q4', force: true });
    expect(tree(out('existing'))).toContain('onnx/model_q4.onnx');
    expect(tree(out('existing'))).not.toContain('old.txt');
  });

  it('refuses to start without the disk space the files need', async () => {
    await expect(pull('small-disk', { freeBytes: async () => 1000 })).rejects.toMatchObject({ code: PullErrorCode.DISK_FULL, message: expect.stringMatching(/^not enough disk space for tiny\/llama-gqa \(fp32\): it needs 7\d\d\.\d kB, 1\.0 kB is free on /) });
    expect(leftBehind('small-disk')).toEqual([]);
  });

  it('runs from the CLI: one line per file off a terminal; errors as one message and exit code 1', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, HF_ENDPOINT: hub.endpoint, HF_TOKEN: '' };
    const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'model/cli.ts', 'pull', ...args], { cwd: ROOT, env });
    const [ok, failed] = await Promise.all([
      cli(REPO, '--dtype', 'q4', '--out', out('cli')),
      cli('tiny/nope', '--out', out('cli-nope')).catch((e: { code: number; stdout: string; stderr: string }) => e),
    ]);
    expect(ok.stdout.split('\n')).toEqual([
      `pulling ${REPO}@main (${hub.commit.slice(0, 7)}) q4: 6 files, 328.4 kB → ${out('cli')}`,
      '  config.json  717 B',
      '  tokenizer.json  21.4 kB',
      '  generation_config.json  103 B',
      '  tokenizer_config.json  252 B',
      '  chat_template.jinja  198 B',
      '  onnx/model_q4.onnx  305.7 kB',
      `wrote ${out('cli')}; serve it with MODEL_PATH=${out('cli')} MODEL_DTYPE=q4`,
      '',
    ]);
    expect(failed).toMatchObject({ code: 1, stderr: `no model tiny/nope on ${hub.endpoint} (or it is private: set HF_TOKEN)\n` });
  });
});
