/**
 * The image's `build` stage, replayed without Docker: the files its COPY instructions take from
 * the build context, after .dockerignore, are laid out in an empty folder and compiled with the
 * stage's own build command. The image once failed to build because modules under src/ imported
 * test support that .dockerignore keeps out of the context; a build of the whole checkout can't
 * see that, since every file is present there.
 *
 * Everything is read from the Dockerfile and .dockerignore, so a new COPY or ignore rule is
 * picked up without touching this file.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Ignore } from '@balena/dockerignore';
import { Copy, DockerfileParser, From, type Instruction } from 'dockerfile-ast';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './manifests.ts';

const exec = promisify(execFile);

// The package is CommonJS (`module.exports = factory`) while its .d.ts says `export default`, so
// TypeScript would type an ESM default import as the namespace; require() hands over the factory.
const dockerignore = createRequire(import.meta.url)('@balena/dockerignore') as (options?: { ignorecase?: boolean }) => Ignore;

// --- the build stage, as the Dockerfile states it ---------------------------------------------------

const dockerfile = DockerfileParser.parse(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));

const buildStage: Instruction[] = [];
{
  let stage: string | null = null;
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction instanceof From) stage = instruction.getBuildStage();
    else if (stage === 'build') buildStage.push(instruction);
  }
}

const buildRun = buildStage.find((i) => i.getKeyword() === 'RUN' && /\bnpm run build\b/.test(i.getArgumentsContent() ?? ''));
// The RUN goes on to copy the shipped model next to dist/ and check the worker exists; only the
// compile step matters here, and the `test -f` checks become assertions below.
const runContent = buildRun?.getArgumentsContent() ?? '';
const BUILD_COMMAND = runContent.split('&&')[0]!.trim();
const REQUIRED_OUTPUTS = ['dist/src/main.js', ...[...runContent.matchAll(/\btest -f (\S+)/g)].map((m) => m[1]!)];

/** Only the WORKDIR in force when the build runs decides where relative COPY destinations land. */
const WORKDIR = buildStage
  .slice(0, buildRun ? buildStage.indexOf(buildRun) : undefined)
  .filter((i) => i.getKeyword() === 'WORKDIR')
  .map((i) => i.getArgumentsContent() ?? '')
  .reduce((dir, next) => path.posix.resolve(dir, next), '/');

interface ContextCopy {
  sources: string[];
  destination: string;
}

/** COPY instructions before the build command that read the build context, not another stage. */
const CONTEXT_COPIES: ContextCopy[] = buildStage
  .slice(0, buildRun ? buildStage.indexOf(buildRun) : 0)
  .filter((i): i is Copy => i instanceof Copy)
  // Copy.getFromFlag() only reports --from when it is the instruction's sole flag.
  .filter((copy) => !copy.getFlags().some((flag) => flag.getName() === 'from'))
  .map((copy) => {
    const args = copy.getArguments().map((a) => a.getValue());
    return { sources: args.slice(0, -1), destination: args.at(-1)! };
  });

// --- the build context ------------------------------------------------------------------------------

function readIgnoreFile(name: string): string[] {
  return fs
    .readFileSync(path.join(ROOT, name), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
}

// Docker matches .dockerignore case-sensitively on Linux; the library defaults to ignoring case.
const ignore = dockerignore({ ignorecase: false }).add(readIgnoreFile('.dockerignore'));

/**
 * Files Docker would send as the build context. git lists them so that node_modules, dist and
 * data are never walked; that leaves out files git ignores, which is sound only while
 * .dockerignore also ignores them (checked below).
 */
async function contextFiles(): Promise<string[]> {
  const { stdout } = await exec('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  const listed = [...new Set(stdout.split('\0').filter(Boolean))];
  // --cached still lists files deleted from the work tree but not yet from the index.
  const present = listed.filter((file) => fs.statSync(path.join(ROOT, file), { throwIfNoEntry: false })?.isFile());
  return ignore.filter(present);
}

/** Where each context file lands, relative to WORKDIR, following Docker's COPY rules. */
function layOut(files: string[]): Map<string, string> {
  const inContext = new Set(files);
  const placed = new Map<string, string>();
  for (const { sources, destination } of CONTEXT_COPIES) {
    const target = path.posix.relative(WORKDIR, path.posix.resolve(WORKDIR, destination));
    if (target.startsWith('..')) throw new Error(`COPY to ${destination} lands outside ${WORKDIR}`);
    // Several sources, or a trailing slash, make the destination a folder.
    const intoFolder = sources.length > 1 || destination.endsWith('/');
    for (const raw of sources) {
      if (/[*?[]/.test(raw)) throw new Error(`COPY source ${raw}: wildcards are not replayed here; extend layOut()`);
      const source = path.posix.normalize(raw).replace(/\/$/, '');
      if (inContext.has(source)) {
        placed.set(source, intoFolder ? path.posix.join(target, path.posix.basename(source)) : target);
        continue;
      }
      // A folder source copies its contents, not the folder itself.
      const inside = files.filter((file) => file.startsWith(`${source}/`));
      // Docker fails the same way when a source is missing or wholly ignored.
      if (inside.length === 0) throw new Error(`COPY source ${raw} is not in the build context`);
      for (const file of inside) placed.set(file, path.posix.join(target, file.slice(source.length + 1)));
    }
  }
  return placed;
}

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder standing in for WORKDIR once the build stage's COPY instructions have run. */
async function stage(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptql-image-build-'));
  tempDirs.push(dir);
  for (const [from, to] of layOut(await contextFiles())) {
    fs.mkdirSync(path.dirname(path.join(dir, to)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, from), path.join(dir, to));
  }
  // The image runs `npm ci` before the build; the installed tree here stands in for it.
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

/** The build command, through /bin/sh as a shell-form RUN does; failure is a result, not a throw. */
async function build(dir: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await exec('/bin/sh', ['-c', BUILD_COMMAND], { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

// --- what dist/ may hold --------------------------------------------------------------------------

function walk(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? walk(full, base) : [path.relative(base, full).split(path.sep).join('/')];
  });
}

const TEST_ONLY_SEGMENTS = new Set(['bench', 'test', 'testing', 'e2e', 'deploy']);

/** Emitted files that only benchmarks, tests, contract suites or their support would need. */
function testOnlyFiles(dist: string): string[] {
  return walk(dist).filter(
    (file) =>
      file.split('/').some((segment) => TEST_ONLY_SEGMENTS.has(segment)) ||
      /\.(test|contract)\.[cm]?js$/.test(file) ||
      file.includes('harness'),
  );
}

/**
 * Relative imports in emitted JS that point at no emitted file. tsc reports a missing module
 * only for imports that bind something: a side-effect `import '../x.ts'` of a file outside the
 * context compiles cleanly and fails when the image starts.
 */
function danglingImports(dist: string): string[] {
  return walk(dist)
    .filter((file) => /\.[cm]?js$/.test(file))
    .flatMap((file) => {
      const { importedFiles } = ts.preProcessFile(fs.readFileSync(path.join(dist, file), 'utf8'), true, true);
      return importedFiles
        .map((ref) => ref.fileName)
        .filter((specifier) => specifier.startsWith('.') && !fs.existsSync(path.join(dist, path.dirname(file), specifier)))
        .map((specifier) => `${file} -> ${specifier}`);
    });
}

// --- the cases ------------------------------------------------------------------------------------

const BUILD_TIMEOUT_MS = 120_000;

describe('production build from the Docker build context', () => {
  it('reads the build stage from the Dockerfile', () => {
    expect(BUILD_COMMAND).toMatch(/^npm run build$/);
    expect(REQUIRED_OUTPUTS).toContain('dist/src/inference/worker.js');
    expect(CONTEXT_COPIES.flatMap((c) => c.sources)).toContain('src');
  });

  it('lists the context from git, which misses only what .dockerignore drops anyway', () => {
    const gitIgnored = readIgnoreFile('.gitignore').filter((pattern) => !pattern.startsWith('!'));
    expect(gitIgnored.filter((pattern) => !ignore.ignores(pattern.replace(/^\/|\/$/g, '')))).toEqual([]);
  });

  it(
    'compiles the entry point and the inference worker, and nothing test-only',
    async () => {
      const dir = await stage();
      const { code, output } = await build(dir);
      expect(code, output).toBe(0);
      for (const file of REQUIRED_OUTPUTS) expect(fs.existsSync(path.join(dir, file)), file).toBe(true);

      const dist = path.join(dir, 'dist');
      expect(testOnlyFiles(dist)).toEqual([]);
      expect(danglingImports(dist)).toEqual([]);
      // Every emitted module has its TypeScript source among the copied files under src/ or model/.
      const orphans = walk(dist)
        .filter((file) => /\.[cm]?js$/.test(file))
        .filter((file) => {
          const source = file.replace(/\.([cm]?)js$/, '.$1ts');
          return !/^(src|model)\//.test(file) || !fs.existsSync(path.join(dir, source));
        });
      expect(orphans).toEqual([]);
    },
    BUILD_TIMEOUT_MS,
  );

  it(
    'fails when src/ imports test support that .dockerignore leaves out (the original defect)',
    async () => {
      const dir = await stage();
      const harness = 'test/support/harness.ts';
      // The premise: the file exists in the checkout, so only the trimmed context can expose this.
      expect(fs.existsSync(path.join(ROOT, harness))).toBe(true);
      expect(ignore.ignores(harness)).toBe(true);

      fs.writeFileSync(path.join(dir, 'src', 'leak.ts'), `import { startTestApp } from '../${harness}';\nexport const leaked = startTestApp;\n`);
      fs.appendFileSync(path.join(dir, 'src', 'main.ts'), "\nimport './leak.ts';\n");

      const { code, output } = await build(dir);
      expect(code).not.toBe(0);
      expect(output).toContain(`'../${harness}'`);
      expect(output).toMatch(/Cannot find module/);
    },
    BUILD_TIMEOUT_MS,
  );

  it(
    'flags a side-effect import of an excluded file, which tsc itself lets through',
    async () => {
      const dir = await stage();
      fs.appendFileSync(path.join(dir, 'src', 'main.ts'), "\nimport '../test/support/harness.ts';\n");

      const { code, output } = await build(dir);
      expect(code, output).toBe(0);
      expect(danglingImports(path.join(dir, 'dist'))).toEqual(['src/main.js -> ../test/support/harness.js']);
    },
    BUILD_TIMEOUT_MS,
  );
});
