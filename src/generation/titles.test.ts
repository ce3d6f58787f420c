import { describe, expect, it } from 'vitest';
import { cleanTitle } from './titles.ts';

describe('cleanTitle', () => {
  it('keeps the first line, without a label, quotes or markup, cut at a word boundary', () => {
    expect(cleanTitle('\n  Title: "Lighthouse keepers of the north"\nMore text')).toBe('Lighthouse keepers of the north');
    expect(cleanTitle('**Winter storms**')).toBe('Winter storms');
    expect(cleanTitle(`${'word '.repeat(30)}`)).toMatch(/^word( word)+…$/);
    expect(cleanTitle('word '.repeat(30))!.length).toBeLessThanOrEqual(61);
  });

  it('gives nothing for a reply without a letter or digit', () => {
    expect(cleanTitle('')).toBeUndefined();
    expect(cleanTitle(' \n "" \n')).toBeUndefined();
    expect(cleanTitle('Title: ...')).toBeUndefined();
  });
});
