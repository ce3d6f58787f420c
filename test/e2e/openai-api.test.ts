/**
 * The OpenAI-compatible API with the official OpenAI SDK as its client: chat and text
 * completions, whole and streamed (usage in the last chunk), the models list, errors as the
 * SDK's typed errors, and a stream the client aborts cancelling its generation.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateApiKeyDocument, MyUsageDocument } from '../../src/generated/graphql.ts';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
const generate = InferenceEngine.prototype.generate;

beforeAll(async () => {
  // Tokens handed on 10 ms apart, so that a client can abort a stream before the model ends it.
  InferenceEngine.prototype.generate = function (request) {
    const events = generate.call(this, request);
    return (async function* () {
      for await (const event of events) {
        if (event.type === 'token') await new Promise((resolve) => setTimeout(resolve, 10));
        yield event;
      }
    })();
  };
  t = await startTestApp({ ROLE: 'all', RATE_LIMIT_PER_MINUTE: '8' });
});
afterAll(async () => {
  await t.stop();
  InferenceEngine.prototype.generate = generate;
});

async function newClient() {
  const user = await t.newUser();
  const { key } = (await t.gql(CreateApiKeyDocument, { name: 'sdk' }, user.accessToken)).data!.createApiKey;
  return { user, client: new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 }) };
}

describe('OpenAI-compatible API', () => {
  it('answers chat and text completions, whole and streamed, counted in the usage ledger', async () => {
    const { user, client } = await newClient();
    const chat = await client.chat.completions.create({ model: 'default', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'Hello' }] }], max_tokens: 8, seed: 1 });
    expect(chat.id).toMatch(/^chatcmpl-/);
    expect(chat.object).toBe('chat.completion');
    expect(chat.model).toBe('default');
    expect(chat.choices[0]!.message.role).toBe('assistant');
    expect(chat.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(['stop', 'length']).toContain(chat.choices[0]!.finish_reason);
    expect(chat.usage!.total_tokens).toBe(chat.usage!.prompt_tokens + chat.usage!.completion_tokens);

    const request = { model: 'default', messages: [{ role: 'user' as const, content: 'Hello' }], max_tokens: 8, seed: 1 };
    const whole = await client.chat.completions.create(request);
    const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const part of stream) chunks.push(part);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id)).toBe(true);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe(whole.choices[0]!.finish_reason);
    // The same request (same seed) streamed: the same text, piece by piece.
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(whole.choices[0]!.message.content);

    const text = await client.completions.create({ model: 'default', prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
    expect(text.object).toBe('text_completion');
    expect(typeof text.choices[0]!.text).toBe('string');

    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['default']);
    expect(models.data[0]).toMatchObject({ object: 'model', owned_by: 'gptql', max_model_len: 256 });

    const day = (await t.gql(MyUsageDocument, {}, user.accessToken)).data!.me.usage.day;
    // Four generations recorded (the streamed repeat may come from the response cache: recorded all the same).
    expect(day.requests).toBe(4);
    expect(day.totalTokens).toBe(chat.usage!.total_tokens + whole.usage!.total_tokens + last.usage!.total_tokens + text.usage!.total_tokens);
  });

  it('reports log-probabilities in chat and text completions, whole and streamed', async () => {
    const { client } = await newClient();
    const request = { model: 'default', messages: [{ role: 'user' as const, content: 'Hello' }], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 };
    const whole = await client.chat.completions.create(request);
    const content = whole.choices[0]!.logprobs!.content!;
    expect(content.map((entry) => entry.token).join('')).toBe(whole.choices[0]!.message.content);
    for (const entry of content) {
      expect(entry.bytes).toEqual([...Buffer.from(entry.token, 'utf8')]);
      expect(entry.top_logprobs).toHaveLength(3);
      const values = entry.top_logprobs.map((alt) => alt.logprob);
      expect(values).toEqual([...values].sort((a, b) => b - a));
      // Greedy: the chosen token is the most likely one.
      expect(entry.top_logprobs[0]).toEqual({ token: entry.token, logprob: entry.logprob, bytes: entry.bytes });
      expect(entry.logprob).toBeLessThan(0);
    }

    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const part of await client.chat.completions.create({ ...request, stream: true })) chunks.push(part);
    const streamed = chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? []);
    expect(streamed.map((e) => e.token)).toEqual(content.map((e) => e.token));
    expect(streamed.map((e) => e.logprob)).toEqual(content.map((e) => expect.closeTo(e.logprob, 5)));

    const text = await client.completions.create({ model: 'default', prompt: 'Once upon a time', max_tokens: 5, temperature: 0, logprobs: 2 });
    const logprobs = text.choices[0]!.logprobs!;
    expect(logprobs.tokens!.join('')).toBe(text.choices[0]!.text);
    expect(logprobs.token_logprobs).toHaveLength(logprobs.tokens!.length);
    expect(logprobs.text_offset).toEqual(logprobs.tokens!.map((_, i) => logprobs.tokens!.slice(0, i).join('').length));
    logprobs.top_logprobs!.forEach((alternatives, i) => {
      // Two alternatives, unless both read as the same text; the chosen token is the best.
      expect(Object.keys(alternatives).length).toBeGreaterThanOrEqual(1);
      expect(alternatives[logprobs.tokens![i]!]).toBe(logprobs.token_logprobs![i]);
    });
    const plain = await client.completions.create({ model: 'default', prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
    expect(plain.choices[0]!.logprobs).toBeNull();
    expect(plain.choices[0]!.text).toBe(text.choices[0]!.text);
  });

  it('cancels the generation of a stream its client aborts', async () => {
    const { client } = await newClient();
    const controller = new AbortController();
    // min_tokens (vLLM's parameter): the model cannot end the reply before the client aborts it.
    const request = { model: 'default', messages: [{ role: 'user' as const, content: 'Tell me a long story' }], max_tokens: 200, min_tokens: 200, stream: true as const };
    const stream = await client.chat.completions.create(request, { signal: controller.signal });
    let id = '';
    try {
      for await (const part of stream) {
        id = part.id;
        if (part.choices[0]?.delta.content) controller.abort();
      }
    } catch {
      // The SDK may end the iteration with an abort error: either way the client is gone.
    }
    expect(controller.signal.aborted).toBe(true);
    const generationId = id.replace(/^chatcmpl-/, '');
    await expect.poll(async () => (await t.app.services.streams.get(generationId))?.status, { timeout: 10_000 }).toBe('CANCELLED');
    // The worker counts it as cancelled.
    const cancelled = async () => (await t.infra.registry.getSingleMetric('generations_total')!.get()).values.find((v) => v.labels.outcome === 'cancelled')?.value;
    expect(await cancelled()).toBe(1);
  });

  it('answers errors as the SDK’s typed errors', async () => {
    const { client } = await newClient();
    const hello = [{ role: 'user' as const, content: 'Hello' }];
    await expect(client.chat.completions.create({ model: 'no-such-model', messages: hello })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.chat.completions.create({ model: 'default', messages: hello, n: 2 })).rejects.toMatchObject({ status: 400, param: 'n' });
    await expect(client.chat.completions.create({ model: 'default', messages: hello, top_logprobs: 2 })).rejects.toMatchObject({ status: 400, param: 'top_logprobs' });
    await expect(client.chat.completions.create({ model: 'default', messages: hello, logprobs: true, top_logprobs: 21 })).rejects.toMatchObject({ status: 400, param: 'top_logprobs' });
    await expect(client.completions.create({ model: 'default', prompt: 'x', echo: true })).rejects.toMatchObject({ status: 400, param: 'echo' });
    const tool = { type: 'function' as const, function: { name: 'f', parameters: {} } };
    await expect(client.chat.completions.create({ model: 'default', messages: hello, tools: [tool] })).rejects.toMatchObject({ status: 400, param: 'tools' });
    await expect(client.chat.completions.create({ model: 'default', messages: hello, response_format: { type: 'json_object' } })).rejects.toMatchObject({ status: 400, param: 'response_format' });
    await expect(client.chat.completions.create({ model: 'default', messages: hello, logit_bias: { '1': 5 } })).rejects.toMatchObject({ status: 400, param: 'logit_bias' });
    await expect(client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] })).rejects.toMatchObject({ status: 400 });
    await expect(client.chat.completions.create({ model: 'default', messages: [] })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    // RATE_LIMIT_PER_MINUTE=8: the refused requests above counted none; eight pass, the ninth is refused.
    for (let i = 0; i < 8; i++) await client.completions.create({ model: 'default', prompt: 'x', max_tokens: 1 });
    const refused = await client.completions.create({ model: 'default', prompt: 'x', max_tokens: 1 }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect(Number((refused as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after'))).toBeGreaterThan(0);
  });
});
