import { createHash } from 'node:crypto';
import type { Example, LabelledText, Splits } from './example.ts';

export interface SplitOptions {
  splitSalt: string;
  devFraction: number;
  testFraction: number;
  limit?: { train: number; dev: number; test: number } | undefined;
}

// Folds runs of whitespace to one space and trims: the cleaning every source gets.
export function foldWhitespace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

// The salted hash of an input: it decides the input's split and its place in the split's order.
export function exampleKey(salt: string, text: string, textPair: string | undefined): string {
  const hash = createHash('sha256').update(salt).update('\0').update(text);
  if (textPair !== undefined) hash.update('\0').update(textPair);
  return hash.digest('hex');
}

// Cleans with `clean`, deduplicates (an input with two labels is dropped) and splits labelled inputs by a salted
// hash, so that an input lands in the same split on every run and machine. Within a split, examples are in hash
// order. A fraction of 0 leaves that split empty (it comes from its own file).
export function splitExamples(
  raw: ReadonlyArray<LabelledText>,
  options: SplitOptions,
  clean: (text: string) => string,
): Splits {
  const byInput = new Map<string, LabelledText>();
  const conflicting = new Set<string>();
  let duplicates = 0;
  for (const r of raw) {
    const text = clean(r.text);
    if (text.length === 0) continue;
    const textPair = r.textPair === undefined ? undefined : clean(r.textPair);
    const id = textPair === undefined ? text : `${text}\0${textPair}`;
    const seen = byInput.get(id);
    if (seen === undefined)
      byInput.set(id, { text, ...(textPair !== undefined && { textPair }), label: r.label });
    else {
      duplicates++;
      if (seen.label !== r.label) conflicting.add(id);
    }
  }
  const examples: Example[] = [];
  for (const [id, input] of byInput) {
    if (conflicting.has(id)) continue;
    examples.push({ ...input, key: exampleKey(options.splitSalt, input.text, input.textPair) });
  }
  examples.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const train: Example[] = [];
  const dev: Example[] = [];
  const test: Example[] = [];
  for (const e of examples) {
    // The first 52 bits of the hash as a fraction in [0, 1).
    const u = Number.parseInt(e.key.slice(0, 13), 16) / 2 ** 52;
    if (u < options.devFraction) dev.push(e);
    else if (u < options.devFraction + options.testFraction) test.push(e);
    else train.push(e);
  }
  const limit = options.limit;
  const splits = {
    train: limit ? train.slice(0, limit.train) : train,
    dev: limit ? dev.slice(0, limit.dev) : dev,
    test: limit ? test.slice(0, limit.test) : test,
  };
  return {
    ...splits,
    stats: {
      raw: raw.length,
      duplicates,
      conflicting: conflicting.size,
      train: splits.train.length,
      dev: splits.dev.length,
      test: splits.test.length,
    },
  };
}
