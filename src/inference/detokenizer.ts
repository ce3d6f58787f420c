/**
 * Streams text from token ids without ever emitting half a character: byte-level BPE can split
 * one character over several tokens, and decoding such a prefix gives U+FFFD. Each step decodes
 * a short window of recent tokens and emits only the part that is complete (the offsets scheme
 * of Hugging Face's text-generation-inference), so the cost per token stays constant.
 */
export interface Decoder {
  decode(ids: readonly number[]): string;
}

const REPLACEMENT = '\uFFFD';

export class IncrementalDecoder {
  private readonly ids: number[] = [];
  /** Start of the window decoded for context (leading-space handling needs a token before). */
  private prefixOffset = 0;
  /** Everything before this index has been emitted. */
  private readOffset = 0;

  constructor(private readonly decoder: Decoder) {}

  /** Adds a token; returns the text it completes (possibly empty). */
  push(tokenId: number): string {
    this.ids.push(tokenId);
    const prefix = this.decoder.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = this.decoder.decode(this.ids.slice(this.prefixOffset));
    if (full.length <= prefix.length || full.endsWith(REPLACEMENT)) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return full.slice(prefix.length);
  }

  /** Whatever is left at the end (an incomplete character stays out: it would be U+FFFD). */
  flush(): string {
    const prefix = this.decoder.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = this.decoder.decode(this.ids.slice(this.prefixOffset));
    const rest = full.slice(prefix.length);
    this.prefixOffset = this.readOffset = this.ids.length;
    return rest.replaceAll(REPLACEMENT, '');
  }
}
