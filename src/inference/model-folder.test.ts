import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildGptGraph, cached, preset, randomWeights, writeModelFolder } from '../../model/index.ts';
import { SafetensorsFile } from '../../model/safetensors.ts';
import { HF_TINY_MODELS, hfTinyDir, reference } from '../../test/support/hf-tiny.ts';
import { InferenceEngine } from './engine.ts';
import { readModelFolder, textCodec } from './model-folder.ts';
import { PromptBuilder } from './prompt.ts';
import { collect } from '../../test/support/collect.ts';

const temporary: string[] = [];
afterEach(() => {
  for (const dir of temporary.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A copy of a fixture folder, changed by `edit`. */
function variantOf(model: (typeof HF_TINY_MODELS)[number], edit: (dir: string) => void): string {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gptql-folder-')), model);
  temporary.push(path.dirname(dir));
  fs.cpSync(hfTinyDir(model), dir, { recursive: true });
  fs.chmodSync(dir, 0o755);
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    fs.chmodSync(path.join(entry.parentPath, entry.name), entry.isDirectory() ? 0o755 : 0o644);
  }
  edit(dir);
  return dir;
}

const editJson = (file: string, change: (json: Record<string, unknown>) => void) => {
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  change(json);
  fs.writeFileSync(file, JSON.stringify(json, null, 2));
};

function chatPromptIds(dir: string): number[] {
  const folder = readModelFolder(dir);
  const codec = textCodec(folder.tokenizer, folder.promptSpecials);
  return new PromptBuilder(folder.chatTemplate, folder.specialTokens, codec).fit({ messages: reference('llama-gqa').chat_messages }, 10_000).ids;
}

describe('model folders as published', () => {
  it('finds the chat template in chat_template.jinja, in tokenizer_config.json as a string or a named list, or in chat_template.json, and renders it identically', () => {
    const template = fs.readFileSync(path.join(hfTinyDir('llama-gqa'), 'chat_template.jinja'), 'utf8');
    const moveTemplate = (place: (dir: string) => void) =>
      variantOf('llama-gqa', (dir) => {
        fs.rmSync(path.join(dir, 'chat_template.jinja'));
        place(dir);
      });
    const folders = {
      jinja: hfTinyDir('llama-gqa'),
      string: moveTemplate((dir) => editJson(path.join(dir, 'tokenizer_config.json'), (c) => (c.chat_template = template))),
      list: moveTemplate((dir) =>
        editJson(path.join(dir, 'tokenizer_config.json'), (c) => {
          c.chat_template = [
            { name: 'tool_use', template: 'TOOLS {{ messages }}' },
            { name: 'default', template },
          ];
        }),
      ),
      json: moveTemplate((dir) => fs.writeFileSync(path.join(dir, 'chat_template.json'), JSON.stringify({ chat_template: template }))),
    };
    for (const [place, dir] of Object.entries(folders)) {
      expect(readModelFolder(dir).chatTemplate, place).toBe(template);
      expect(chatPromptIds(dir), place).toEqual(reference('llama-gqa').chat_prompt_ids);
    }
    const none = moveTemplate(() => {});
    expect(readModelFolder(none).chatTemplate).toBeUndefined();
  });

  it('refuses a named template list without a default, naming what it has', () => {
    const dir = variantOf('llama-gqa', (d) => {
      fs.rmSync(path.join(d, 'chat_template.jinja'));
      editJson(path.join(d, 'tokenizer_config.json'), (c) => (c.chat_template = [{ name: 'tool_use', template: 'x' }]));
    });
    expect(() => readModelFolder(dir)).toThrow(/no template named "default" \(it has: tool_use\)/);
  });

  it('takes end-of-sequence ids from generation_config.json (an id or a list) and config.json together', () => {
    const dir = variantOf('qwen2-bias', (d) => {
      editJson(path.join(d, 'generation_config.json'), (g) => (g.eos_token_id = [2, 7]));
      editJson(path.join(d, 'config.json'), (c) => (c.eos_token_id = 9));
    });
    expect(readModelFolder(dir).eosTokenIds).toEqual([2, 7, 9]);
    expect(readModelFolder(hfTinyDir('qwen2-bias')).eosTokenIds).toEqual([2]);
  });

  it("uses generation_config.json's sampling settings as defaults, do_sample false meaning greedy", () => {
    expect(readModelFolder(hfTinyDir('gpt2')).defaults.temperature).toBe(0);
    const dir = variantOf('gpt2', (d) =>
      editJson(path.join(d, 'generation_config.json'), (g) => Object.assign(g, { do_sample: true, temperature: 0.6, top_p: 0.9, top_k: 20, repetition_penalty: 1.05 })),
    );
    expect(readModelFolder(dir).defaults).toMatchObject({ temperature: 0.6, topP: 0.9, topK: 20, repetitionPenalty: 1.05 });
  });

  it('reads the rotary base from rope_parameters (transformers 5) or rope_theta (4)', () => {
    expect(readModelFolder(hfTinyDir('llama-gqa')).ropeTheta).toBe(10_000);
    const older = variantOf('llama-gqa', (d) =>
      editJson(path.join(d, 'config.json'), (c) => {
        delete c.rope_parameters;
        c.rope_theta = 500_000;
      }),
    );
    expect(readModelFolder(older).ropeTheta).toBe(500_000);
  });

  it('puts the BOS and EOS that add_bos_token / add_eos_token ask for around plain prompts, and nothing around a rendered template', () => {
    const dir = variantOf('llama-gqa', (d) => editJson(path.join(d, 'tokenizer_config.json'), (c) => Object.assign(c, { add_bos_token: true, add_eos_token: true })));
    const folder = readModelFolder(dir);
    const codec = textCodec(folder.tokenizer, folder.promptSpecials);
    const ref = reference('llama-gqa');
    expect(codec.encodePrompt(ref.prompt)).toEqual([0, ...ref.prompt_ids, 2]);
    expect(chatPromptIds(dir)).toEqual(ref.chat_prompt_ids);
    const plain = readModelFolder(hfTinyDir('llama-gqa'));
    expect(textCodec(plain.tokenizer, plain.promptSpecials).encodePrompt(ref.prompt)).toEqual(ref.prompt_ids);
  });

  it.each(HF_TINY_MODELS)('counts the weights of %s from config.json as its checkpoint holds them', (model) => {
    const file = new SafetensorsFile(path.join(hfTinyDir(model), 'model.safetensors'));
    const stored = [...file.entries.values()].reduce((sum, e) => sum + e.shape.reduce((a, b) => a * b, 1), 0);
    file.close();
    expect(readModelFolder(hfTinyDir(model)).parameters).toBe(stored);
  });

  it('says which variants a folder has when the asked one is missing', () => {
    expect(() => readModelFolder(hfTinyDir('gpt2'), 'q4f16')).toThrow(/no q4f16 variant.*this folder has: fp32, fp16, int8, q4/);
  });

  it("falls back to Optimum's decoder_model_merged file and serves it", async () => {
    const dir = variantOf('qwen2-bias', (d) => {
      fs.renameSync(path.join(d, 'onnx', 'model_int8.onnx'), path.join(d, 'onnx', 'decoder_model_merged_int8.onnx'));
    });
    expect(path.basename(readModelFolder(dir, 'int8').onnxPath)).toBe('decoder_model_merged_int8.onnx');
    const engine = await InferenceEngine.start({ modelPath: dir, dtype: 'int8', intraOpThreads: 1 });
    try {
      expect(engine.model).toMatchObject({ architecture: 'Qwen2ForCausalLM', dtype: 'int8', chatTemplate: true });
      const { done } = await collect(engine.generate({ input: { prompt: reference('qwen2-bias').prompt }, params: { temperature: 0, maxTokens: 3 } }));
      expect(done.usage.completionTokens).toBeGreaterThan(0);
    } finally {
      await engine.close();
    }
  });

  it.each(['model_q4.onnx_data', 'model_q4.onnx.data'])('serves a variant whose weights are in an external file named %s', async (dataFile) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptql-external-'));
    temporary.push(dir);
    const weights = cached(randomWeights(preset('tiny'), { seed: 3 }));
    writeModelFolder(dir, weights, { flavour: 'optimized', dtype: 'fp32' });
    // The exporters' layout: the graph in one file, its weights beside it under the name the graph records.
    const bytes = buildGptGraph(weights, 'optimized').serialize({ dtype: 'fp32', weights: 'external', externalPath: path.join(dir, 'onnx', dataFile) });
    fs.writeFileSync(path.join(dir, 'onnx', 'model_q4.onnx'), bytes);
    expect(fs.statSync(path.join(dir, 'onnx', dataFile)).size).toBeGreaterThan(fs.statSync(path.join(dir, 'onnx', 'model_q4.onnx')).size);
    const engines = await Promise.all((['fp32', 'q4'] as const).map((dtype) => InferenceEngine.start({ modelPath: dir, dtype, intraOpThreads: 1 })));
    try {
      const [embedded, external] = await Promise.all(engines.map((e) => collect(e.generate({ input: { prompt: 'Same weights' }, params: { temperature: 0, maxTokens: 8 } }))));
      expect(external!.text).toBe(embedded!.text);
    } finally {
      await Promise.all(engines.map((e) => e.close()));
    }
  });

  it('refuses to start a model whose chat template cannot be parsed', async () => {
    const dir = variantOf('gpt2', (d) => fs.writeFileSync(path.join(d, 'chat_template.jinja'), '{% for m in messages %}{{ m.content }'));
    await expect(InferenceEngine.start({ modelPath: dir, intraOpThreads: 1 })).rejects.toThrow(/chat template cannot be parsed/);
  });

  it("reports a template's raise_exception as the request's fault", async () => {
    const dir = variantOf('gpt2', (d) =>
      fs.writeFileSync(path.join(d, 'chat_template.jinja'), "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversations must start with a user message') }}{% endif %}{{ messages[0]['content'] }}"),
    );
    const engine = await InferenceEngine.start({ modelPath: dir, intraOpThreads: 1 });
    try {
      const events = [];
      for await (const event of engine.generate({ input: { messages: [{ role: 'assistant', content: 'Hi' }] }, params: { maxTokens: 2 } })) events.push(event);
      expect(events).toEqual([{ type: 'error', code: 'BAD_USER_INPUT', message: expect.stringContaining('Conversations must start with a user message') }]);
    } finally {
      await engine.close();
    }
  });
});
