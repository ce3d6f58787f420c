/**
 * The corpus builder (build_corpus.py) on small dictd databases written here in dictd's own
 * format (a gzip data file and a tab-separated index with base-64 offsets, as dictfmt writes
 * them) and a fortune file: entries as WordNet, the GCIDE, the Jargon File and FOLDOC set them.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const base64Number = (n: number): string => (n < 64 ? DIGITS[n]! : base64Number(Math.floor(n / 64)) + DIGITS[n % 64]);

/** A dictd database: `entries` as [headword, text]; extra index lines point more headwords at an entry. */
function writeDictd(dir: string, name: string, entries: [string, string][], aliases: [string, string][] = []) {
  let data = '';
  const where = new Map<string, [number, number]>();
  for (const [headword, text] of entries) {
    const bytes = Buffer.byteLength(text);
    where.set(headword, [Buffer.byteLength(data), bytes]);
    data += text;
  }
  const notice = ['00-database-info', 0, 1] as const;
  const lines = [[...notice], ...[...where].map(([w, [o, l]]) => [w, o, l]), ...aliases.map(([alias, of]) => [alias, ...where.get(of)!])];
  fs.writeFileSync(path.join(dir, `${name}.index`), lines.map(([w, o, l]) => `${w}\t${base64Number(o as number)}\t${base64Number(l as number)}\n`).join(''));
  fs.writeFileSync(path.join(dir, `${name}.dict.dz`), zlib.gzipSync(data));
}

/** The split's rule, as the builder documents it: the first 8 bytes of the word's SHA-1, modulo N. */
const heldOut = (word: string, every = 3) => BigInt('0x' + crypto.createHash('sha1').update(word.toLowerCase()).digest('hex').slice(0, 16)) % BigInt(every) === 0n;

const WORDS = ['harbor', 'lighthouse', 'anchor', 'beacon', 'compass', 'galley', 'rudder', 'keel', 'mast', 'sail', 'tide', 'wharf'];

let dir: string;
let out: string;
const read = (name: string) => fs.readFileSync(path.join(out, name), 'utf8');
const jsonl = (name: string) => read(name).trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { word: string; question: string; answer: string; senses: number; text: string });

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptql-corpus-'));
  const dictd = path.join(dir, 'dictd');
  const fortunes = path.join(dir, 'fortunes');
  fs.mkdirSync(dictd);
  fs.mkdirSync(fortunes);
  writeDictd(dictd, 'wn', [
    [
      'harbor',
      'harbor\n    n 1: a sheltered port where ships can take on or discharge cargo\n         [syn: {seaport}, {haven}, {harbor}]\n    2: a place of refuge and comfort and security [syn: {harbor},\n       {harbour}]\n    v 1: maintain (a theory, thoughts, or feelings); "bear a\n         grudge"; "harbor a resentment" [syn: {harbor}, {hold}]\n    2: secretly shelter (as of fugitives or criminals)\n\n',
    ],
    ['beacon light', 'beacon light\n    n 1: a tower with a light [syn: {beacon}]\n\n'],
    ...WORDS.slice(1).map((word): [string, string] => [word, `${word}\n    n 1: the ${word} of a ship, used at sea; "the ${word} was new"\n\n`]),
  ]);
  writeDictd(
    dictd,
    'gcide',
    [
      [
        'Harbor',
        'Harbor \\Har"bor\\ (h[aum]r"b[~e]r), n. [OE. herbor.]\n   1. A station for rest and entertainment; a refuge; a shelter.\n      [1913 Webster]\n\n            For harbor at a thousand doors they knocked.\n                                                  --Dryden.\n      [1913 Webster]\n\n   2. A portion of a sea, a lake, or other large body of water, either landlocked or protected.\n      [1913 Webster]\n',
      ],
      ...WORDS.slice(1).map((word): [string, string] => [word, `${word} \\${word}\\, n.\n   A part of a ship called the ${word}, as sailors say.\n   [1913 Webster]\n`]),
    ],
    [['Harbor dues', 'Harbor']],
  );
  writeDictd(dictd, 'jargon', [['kludge', 'kludge\n\n   /klooj/ n. A clever programming trick intended to solve a problem quickly. See {crock}.\n']]);
  writeDictd(dictd, 'foldoc', [['compiler', 'compiler\n\n   <language> A program that translates a {high-level language} into machine code.\n\n   (1995-01-01)\n']]);
  fs.writeFileSync(path.join(fortunes, 'wisdom'), 'The trouble with opportunity is that it always comes disguised as hard work.\n\t-- Herbert V. Prochnow\n%\n  _____\n |_____|\n (|||||)\n%\nA journey of a thousand miles begins with a single step.\n%\n');
  fs.writeFileSync(path.join(fortunes, 'wisdom.dat'), 'binary index');
  fs.writeFileSync(path.join(fortunes, 'art'), 'A picture of the sea, drawn in letters for the eyes.\n%\n');
  out = path.join(dir, 'corpus');
  // One word in three held out, so that a dozen words give both splits.
  execFileSync('python3', ['model/train/build_corpus.py', '--out', out, '--dictd', dictd, '--fortunes', fortunes, '--heldout-every', '3'], { stdio: 'pipe' });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the corpus builder', () => {
  it('asks about each single word in two phrasings, answers with its senses, in ChatML', () => {
    const all = [...jsonl('qa-train.jsonl'), ...jsonl('qa-heldout.jsonl')];
    const harbor = all.filter((item) => item.word === 'harbor');
    expect(harbor).toHaveLength(2);
    expect(new Set(harbor.map((item) => item.question)).size).toBe(2);
    // Several senses: the first three, numbered, by part of speech; synonyms and examples left out.
    expect(harbor[0]!.answer).toBe(
      'Harbor has several meanings. 1. (noun) a sheltered port where ships can take on or discharge cargo. 2. (noun) a place of refuge and comfort and security. 3. (verb) maintain (a theory, thoughts, or feelings).',
    );
    expect(harbor[0]!.senses).toBe(4);
    expect(harbor[0]!.text).toBe(`<|im_start|>user\n${harbor[0]!.question}<|im_end|>\n<|im_start|>assistant\n${harbor[0]!.answer}<|im_end|>\n`);
    expect(all.find((item) => item.word === 'keel')!.answer).toBe('Keel means the keel of a ship, used at sea.');
    // Multi-word headwords are not asked about.
    expect(all.some((item) => item.word.includes(' '))).toBe(false);
    expect(new Set(all.map((item) => item.question.replace(/harbor|lighthouse|anchor|beacon|compass|galley|rudder|keel|mast|sail|tide|wharf/gi, 'W'))).size).toBeGreaterThanOrEqual(4);
  });

  it('holds out whole words: never asked, answered or defined in anything trained on', () => {
    const train = jsonl('qa-train.jsonl');
    const heldout = jsonl('qa-heldout.jsonl');
    const heldWords = new Set(heldout.map((item) => item.word));
    expect([...heldWords].sort()).toEqual(WORDS.filter((word) => heldOut(word)).sort());
    expect([...new Set(train.map((item) => item.word))].sort()).toEqual(WORDS.filter((word) => !heldOut(word)).sort());
    for (const item of train) expect(heldWords.has(item.word)).toBe(false);
    const trained = [read('chat.txt'), read('prose-gcide.txt'), read('prose-jargon.txt'), read('prose-foldoc.txt')].join('\n');
    for (const word of heldWords) expect(trained.toLowerCase()).not.toMatch(new RegExp(`(^|\\n)${word}:|\\b${word} (means|has several)`));
    expect(read('chat.txt').split('\n<|im_start|>user').length).toBe(train.length);
  });

  it('writes dictionary entries and fortunes as clean prose, each once', () => {
    // Harbor, kludge and compiler are not held out (one word in three is): their entries are written.
    expect(['harbor', 'kludge', 'compiler'].map((word) => heldOut(word))).toEqual([false, false, false]);
    const gcide = read('prose-gcide.txt');
    // Each definition once (the index's second headword for the entry does not repeat it);
    // quotations, citations and the headword's pronunciation left out.
    expect(gcide.split('\n\n').filter((p) => p.startsWith('Harbor:'))).toEqual([
      'Harbor: A station for rest and entertainment; a refuge; a shelter.',
      'Harbor: A portion of a sea, a lake, or other large body of water, either landlocked or protected.',
    ]);
    expect(gcide).not.toMatch(/1913 Webster|Dryden|thousand doors|\\|00-database/);
    for (const word of WORDS.slice(1)) expect(gcide.includes(`${word}: A part of a ship`)).toBe(!heldOut(word));
    expect(read('prose-jargon.txt').trim()).toBe('kludge: /klooj/ n. A clever programming trick intended to solve a problem quickly. See crock.');
    expect(read('prose-foldoc.txt').trim()).toBe('compiler: <language> A program that translates a high-level language into machine code.');
    expect(read('prose-fortunes.txt').split('\n\n').map((p) => p.trim())).toEqual([
      'The trouble with opportunity is that it always comes disguised as hard work. -- Herbert V. Prochnow',
      'A journey of a thousand miles begins with a single step.',
    ]);
  });

  it('refuses to start without its sources, naming the package that installs each', () => {
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    let failure: { status: number; stderr: Buffer } | undefined;
    try {
      execFileSync('python3', ['model/train/build_corpus.py', '--out', path.join(dir, 'unused'), '--dictd', empty, '--fortunes', path.join(empty, 'none')], { stdio: 'pipe' });
    } catch (error) {
      failure = error as { status: number; stderr: Buffer };
    }
    expect(failure?.status).toBe(2);
    for (const name of ['apt-get install dict-wn', 'apt-get install dict-gcide', 'apt-get install dict-jargon', 'apt-get install dict-foldoc', 'apt-get install fortunes']) expect(failure!.stderr.toString()).toContain(name);
    expect(fs.existsSync(path.join(dir, 'unused'))).toBe(false);
  });

  it('records each source with its package and licence, and what it gave', () => {
    const manifest = JSON.parse(read('manifest.json')) as { sources: Record<string, { package: string; licence: string; questions?: number; paragraphs?: number }> };
    expect(Object.keys(manifest.sources).sort()).toEqual(['foldoc', 'fortunes', 'gcide', 'jargon', 'wordnet']);
    for (const source of Object.values(manifest.sources)) expect(source.licence.length).toBeGreaterThan(5);
    expect(manifest.sources.wordnet!.questions).toBe(jsonl('qa-train.jsonl').length);
    expect(manifest.sources.fortunes!.paragraphs).toBe(2);
  });
});
