/**
 * `info --model` and `sample`: what the serving engine makes of any folder it can serve (ours,
 * transformers / Optimum exports, onnx-community downloads), through the engine itself so that
 * what the CLI shows is what a worker would do.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { InferenceSession } from 'onnxruntime-node';
import { InferenceEngine } from '../src/inference/engine.ts';
import { readModelFolder } from '../src/inference/model-folder.ts';
import { availableVariants, isExternalDataOf, MODEL_DTYPES, type ModelDtype } from '../src/inference/model-variants.ts';
import { describeSession } from '../src/inference/session-io.ts';

function dtypeOption(value: string | undefined): ModelDtype {
  const dtype = value ?? 'fp32';
  if (!(MODEL_DTYPES as readonly string[]).includes(dtype)) throw new Error(`--dtype must be one of ${MODEL_DTYPES.join(', ')}`);
  return dtype as ModelDtype;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** The ONNX file and its external weights, in bytes. */
function onnxBytes(onnxPath: string): number {
  const dir = path.dirname(onnxPath);
  const file = path.basename(onnxPath);
  return fs
    .readdirSync(dir)
    .filter((name) => name === file || isExternalDataOf(file, name))
    .reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0);
}

export async function folderInfo(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { model: { type: 'string' }, dtype: { type: 'string' } } });
  const folder = readModelFolder(values.model!, dtypeOption(values.dtype));
  const session = await InferenceSession.create(folder.onnxPath);
  const io = describeSession(session);
  await session.release();
  const rows: [string, string | number][] = [
    ['name', folder.name],
    ['architecture', folder.architecture],
    ['parameters', folder.parameters?.toLocaleString('en-US') ?? 'unknown'],
    ['variants', availableVariants(folder.dir).join(', ')],
    ['serving', `${folder.dtype}: ${path.relative(folder.dir, folder.onnxPath)} (${mib(onnxBytes(folder.onnxPath))} with external data)`],
    ['context length', folder.contextLength],
    ['vocabulary', folder.vocabSize],
    ['layers × KV heads × head size', `${io.cache.length / 2} × ${io.kvHeads} × ${io.headDim} (${io.kvType} cache)`],
    ['rope theta', folder.ropeTheta ?? '-'],
    ['end of sequence', folder.eosTokenIds.join(', ')],
    ['chat template', folder.chatTemplate ? 'yes' : 'no (plain transcript)'],
    ['defaults', Object.entries(folder.defaults).map(([k, v]) => `${k} ${v}`).join(', ')],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`);
}

export async function sampleFolder(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      dtype: { type: 'string' },
      prompt: { type: 'string' },
      chat: { type: 'string' },
      system: { type: 'string' },
      tokens: { type: 'string', default: '100' },
      temperature: { type: 'string' },
      seed: { type: 'string', default: '1' },
    },
  });
  if (values.prompt !== undefined && values.chat !== undefined) throw new Error('give --prompt or --chat, not both');
  const engine = await InferenceEngine.start({ modelPath: values.model!, dtype: dtypeOption(values.dtype) });
  try {
    const input =
      values.chat !== undefined
        ? { messages: [...(values.system ? [{ role: 'system' as const, content: values.system }] : []), { role: 'user' as const, content: values.chat }] }
        : { prompt: values.prompt ?? 'In the beginning' };
    if ('prompt' in input) process.stdout.write(input.prompt!);
    const params = {
      maxTokens: Number(values.tokens),
      seed: Number(values.seed),
      ...(values.temperature !== undefined ? { temperature: Number(values.temperature) } : {}),
    };
    for await (const event of engine.generate({ input, params })) {
      if (event.type === 'token') process.stdout.write(event.delta);
      else if (event.type === 'error') throw new Error(event.message);
      else {
        const { usage, timings, finishReason } = event;
        process.stdout.write('\n');
        console.error(`${usage.promptTokens} prompt + ${usage.completionTokens} tokens, ${finishReason}, ${timings.tokensPerSecond.toFixed(1)} tokens/s`);
      }
    }
  } finally {
    await engine.close();
  }
}
