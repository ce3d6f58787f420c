/**
 * Dockerfile: no Docker engine runs on these machines, so the images cannot be built here. What
 * can be checked offline is the file itself, parsed with dockerfile-ast (the parser of the VS Code
 * Docker tooling): both targets exist, run unprivileged with production dependencies only, start
 * the compiled entry point, and the CUDA image installs the provider the app looks for.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../../src/config.ts';
import { ROOT } from './manifests.ts';

const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(text);

/** Instructions of each build stage, by stage name. */
const stages = new Map<string, { image: string; instructions: Instruction[] }>();
{
  let current: { image: string; instructions: Instruction[] } | undefined;
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const from = dockerfile.getFROMs().find((f) => f.getRange().start.line === instruction.getRange().start.line)!;
      current = { image: from.getImageName() ?? '', instructions: [] };
      stages.set(from.getBuildStage() ?? `#${stages.size}`, current);
    } else {
      current?.instructions.push(instruction);
    }
  }
}
const args = (stage: string, keyword: string) =>
  stages.get(stage)!.instructions.filter((i) => i.getKeyword() === keyword).map((i) => i.getArgumentsContent() ?? '');

describe('Dockerfile', () => {
  it('has a CPU and a CUDA target that run the compiled entry point as uid 10001', () => {
    for (const target of ['cpu', 'cuda']) {
      expect(stages.has(target), target).toBe(true);
      expect(args(target, 'USER'), target).toEqual(['10001:10001']);
      expect(args(target, 'ENTRYPOINT')).toEqual(['["node", "dist/src/main.js"]']);
      expect(args(target, 'EXPOSE')).toEqual([CONFIG_VARIABLES.PORT.default]);
    }
    // `npm run build` (tsconfig.build.json, outDir dist, rootDir .) emits src/main.ts there.
    const build = JSON.parse(fs.readFileSync(path.join(ROOT, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(build.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: '.' });
    expect(fs.existsSync(path.join(ROOT, 'src', 'main.ts'))).toBe(true);
    expect(stages.get('cuda')!.image).toBe('${CUDA_IMAGE}');
    expect(text).toMatch(/ARG CUDA_IMAGE=nvidia\/cuda:12\.[\d.]+-cudnn-runtime-/); // CUDA 12 + cuDNN 9 for ONNX Runtime
  });

  it('ships production dependencies only, from the stages that install them', () => {
    expect(args('deps-cpu', 'RUN').join('\n')).toContain('npm ci --omit=dev');
    expect(stages.get('deps-cuda')!.image).toBe('deps-cpu');
    for (const target of ['cpu', 'cuda']) {
      const copies = stages.get(target)!.instructions.filter((i) => i.getKeyword() === 'COPY').map((i) => i.getTextContent());
      expect(copies.filter((c) => c.includes('node_modules'))).toEqual([`COPY --from=deps-${target} --chown=root:root /app/node_modules ./node_modules`]);
      expect(copies.some((c) => c.startsWith('COPY --from=build') && c.includes('/app/dist'))).toBe(true);
      // src/web/assets.ts bundles the page from src/web/client (relative to the working directory).
      expect(copies).toContain('COPY --chown=root:root src/web/client ./src/web/client');
    }
  });

  it('installs the CUDA execution provider where src/inference/ort-session.ts looks for it', () => {
    const run = args('deps-cuda', 'RUN').join('\n');
    // Run directly: npm skips the script, even in `npm rebuild`, for a package allowScripts denies;
    // denied, it keeps the CUDA download out of the CPU image and of development installs.
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
    expect(run).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js');
    const napi = fs.readdirSync(path.join(ROOT, 'node_modules', 'onnxruntime-node', 'bin')).find((d) => d.startsWith('napi-v'));
    expect(run).toContain(`test -f node_modules/onnxruntime-node/bin/${napi}/linux/x64/libonnxruntime_providers_cuda.so`);
    expect(fs.readFileSync(path.join(ROOT, 'src', 'inference', 'ort-session.ts'), 'utf8')).toContain("'libonnxruntime_providers_cuda.so'");
  });

  it('copies only what exists and what .dockerignore lets through, and puts the default model where the build looks', () => {
    const ignored = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git', '.env']));
    for (const [, stage] of stages) {
      for (const copy of stage.instructions.filter((i) => i.getKeyword() === 'COPY')) {
        // getArgumentsContent() leaves out flags such as --from; the sources are all but the last.
        if (copy.getTextContent().includes('--from=')) continue;
        const parts = (copy.getArgumentsContent() ?? '').split(/\s+/);
        for (const source of parts.slice(0, -1)) {
          expect(fs.existsSync(path.join(ROOT, source)), source).toBe(true);
          expect(ignored, source).not.toContain(source);
        }
      }
    }
    // model/default-dir.ts: DEFAULT_MODEL_DIR = new URL('./default', import.meta.url), i.e. dist/model/default.
    expect(fs.readFileSync(path.join(ROOT, 'model', 'default-dir.ts'), 'utf8')).toContain("new URL('./default', import.meta.url)");
    expect(args('build', 'RUN').join('\n')).toContain('cp -r model/default dist/model/default');
  });
});
