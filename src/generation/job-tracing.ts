/**
 * What a generation job's span tells about the model's work: its usage and how it ended, and
 * three child spans laid out from the engine's timings (measured on its thread, reported when
 * the generation is done): waiting for a batch slot, reading the prompt until the first token,
 * and decoding the rest.
 */
import { trace } from '@opentelemetry/api';
import type { StreamEvent } from '../streams/events.ts';
import { tracer } from '../observability/tracing.ts';

type Completed = Omit<Extract<StreamEvent, { kind: 'completed' }>, 'kind' | 'index'>;

export function recordGenerationPhases(result: Completed, now = Date.now()): void {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  const { usage, timings } = result;
  span.setAttributes({
    'gen_ai.request.model': result.model,
    'gen_ai.usage.input_tokens': usage.promptTokens,
    'gen_ai.usage.output_tokens': usage.completionTokens,
    'gen_ai.response.finish_reasons': [result.finishReason],
    'gptql.response_cache': result.cached,
  });
  if (result.cached || timings.timeToFirstTokenSeconds === 0) return;
  const decodeMs = timings.tokensPerSecond > 0 ? ((usage.completionTokens - 1) / timings.tokensPerSecond) * 1000 : 0;
  const firstToken = now - decodeMs;
  const entered = firstToken - timings.timeToFirstTokenSeconds * 1000;
  const prefillStart = entered + timings.queueSeconds * 1000;
  const phase = (name: string, start: number, end: number) => tracer.startSpan(name, { startTime: start }).end(end);
  phase('engine.queue', entered, prefillStart);
  phase('engine.prefill', prefillStart, firstToken);
  phase('engine.decode', firstToken, now);
}
