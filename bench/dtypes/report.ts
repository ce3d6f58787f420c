/** The dtype benchmark's tables: rows for console.table and the same as markdown for the README. */
import type { PerplexityResult } from '../../model/perplexity.ts';
import type { Variant } from './folders.ts';
import type { Bandwidth } from './memory-bandwidth.ts';
import type { StreamRates } from './decode.ts';

export interface DecodeRow {
  variant: Variant;
  weightBytes: number;
  tokensPerSecond: number;
  perplexity?: PerplexityResult;
}

const MB = (n: number) => (n / 1e6).toFixed(1);
const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}×` : '–');

function markdown(rows: Record<string, string>[]): string {
  const keys = Object.keys(rows[0] ?? {});
  return [`| ${keys.join(' | ')} |`, `| ${keys.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${keys.map((k) => r[k]).join(' | ')} |`)].join('\n');
}

export function decodeMarkdown(rows: readonly DecodeRow[], bandwidth: Bandwidth) {
  const table = rows.map((r) => {
    const base = rows.find((b) => b.variant.model === r.variant.model && b.variant.dtype === 'fp32');
    const gbps = (r.weightBytes * r.tokensPerSecond) / 1e9;
    const row: Record<string, string> = {
      model: r.variant.model,
      dtype: r.variant.dtype === 'fp16' ? 'fp16 weights' : r.variant.dtype,
      'file MB': MB(r.variant.fileBytes),
      'weights read / token MB': MB(r.weightBytes),
      'decode tok/s': r.tokensPerSecond.toFixed(1),
      'vs fp32': ratio(r.tokensPerSecond, base?.tokensPerSecond),
      'implied GB/s': gbps.toFixed(1),
      // Against the better of the two scans: on a shared or virtual machine either may come out higher.
      'of measured bandwidth': `${((100 * gbps) / Math.max(bandwidth.allThreadsGBps, bandwidth.oneThreadGBps)).toFixed(0)}%`,
    };
    if (rows.some((x) => x.perplexity)) {
      row.perplexity = r.perplexity ? r.perplexity.perplexity.toFixed(2) : '';
      row['ppl vs fp32'] = r.perplexity && base?.perplexity ? ratio(r.perplexity.perplexity, base.perplexity.perplexity) : '';
    }
    return row;
  });
  return { table, markdown: markdown(table) };
}

export function batchedMarkdown(rows: readonly { variant: Variant; rates: StreamRates }[], streams: number) {
  const table = rows.map(({ variant, rates }) => ({
    model: variant.model,
    dtype: variant.dtype,
    '1 stream tok/s': rates.one.toFixed(1),
    [`${streams} streams tok/s`]: rates.many.toFixed(1),
    [`${streams} / 1`]: ratio(rates.many, rates.one),
  }));
  return { table, markdown: markdown(table) };
}
