// What tokenizing costs the server's event loop per text: the full encoding against encodeEnds (the pieces the
// longest operating point can read), on the load test's mix of real IMDB reviews and on one text at the server's
// default MAX_CHARS_PER_TEXT (50,000 characters):
//   npm run bench:tokenizer -- [--rounds N]
// Timed in alternating rounds, medians reported; the ratios are measured in this run.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadReviewTexts } from '../loadtests/review-texts.ts';
import { median } from '../serving/calibrate-latency.ts';
import { describeIssues } from '../src/describe-issues.ts';
import { loadBertUncasedVocabulary, WordPieceTokenizer } from '../src/tokenizer/index.ts';

const USAGE = 'usage: npm run bench:tokenizer -- [--rounds N]';
const MAX_TOKENS = 256;

async function main(): Promise<void> {
  let rounds: number;
  try {
    const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' } }, strict: true });
    ({ rounds } = z.object({ rounds: z.coerce.number().int().min(1).max(1000) }).parse(values));
  } catch (error) {
    const message =
      error instanceof z.ZodError
        ? describeIssues(error, (path) => `--${path.join('.')}`)
        : (error as Error).message;
    process.stderr.write(`error: ${message}\n${USAGE}\n`);
    process.exit(2);
  }
  const tokenizer = new WordPieceTokenizer(loadBertUncasedVocabulary());
  const { texts } = await loadReviewTexts(2000, 1);
  const long = texts.join(' ').slice(0, 50_000);
  const options = { maxTokens: MAX_TOKENS, truncation: 'head-tail' } as const;
  const pieces = texts.map((t) => tokenizer.encode(t).length);
  const over = pieces.filter((n) => n + 2 > MAX_TOKENS).length;

  const cases = [
    { name: `${texts.length} IMDB reviews (load test mix)`, texts, per: texts.length },
    { name: 'one 50,000-character text', texts: Array.from({ length: 20 }, () => long), per: 20 },
  ];
  console.log(
    `head-tail truncation to ${MAX_TOKENS} tokens; reviews: mean ${(pieces.reduce((a, b) => a + b, 0) / pieces.length).toFixed(0)} wordpieces, ${((over / pieces.length) * 100).toFixed(0)}% longer than ${MAX_TOKENS} tokens; ${rounds} alternating rounds, medians`,
  );
  console.log('case                                   encode (us/text)  encodeEnds (us/text)  ratio');
  for (const c of cases) {
    const full: number[] = [];
    const ends: number[] = [];
    for (let r = 0; r <= rounds; r++) {
      let t = performance.now();
      for (const text of c.texts) tokenizer.encode(text);
      const a = ((performance.now() - t) * 1000) / c.per;
      t = performance.now();
      for (const text of c.texts) tokenizer.encodeEnds(text, options);
      const b = ((performance.now() - t) * 1000) / c.per;
      // Round 0 warms the word cache and the JIT.
      if (r > 0) {
        full.push(a);
        ends.push(b);
      }
    }
    const f = median(full);
    const e = median(ends);
    console.log(
      `${c.name.padEnd(38)} ${f.toFixed(1).padStart(16)}  ${e.toFixed(1).padStart(20)}  ${(f / e).toFixed(2).padStart(5)}x`,
    );
  }
}

await main();
