// Measures the files data source on a generated JSON Lines file (1 GB by default, in a temporary folder removed
// afterwards): rows per second and peak RSS of (1) the streaming reader alone (parse and check every record, keep
// none: what a file of any size costs to validate) and (2) the whole load the training job does (labels, dedup,
// salted-hash split: the examples are kept in memory). Each phase runs in a child process of its own, so each peak
// RSS is that phase's; CPU seconds beside wall seconds, as the machine may be shared. Prints figures; asserts
// nothing.
//   npm run bench:data [-- --mb N]

import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { describeIssues } from '../src/describe-issues.ts';
import { loadFileSplits } from '../training/data/load-files.ts';
import { locateDataFile, readRecords } from '../training/data/read-records.ts';

const USAGE = 'usage: npm run bench:data [-- --mb N]';
const LABELS = ['earn', 'acq', 'crude', 'trade', 'money-fx', 'interest', 'ship', 'sugar'];
const WORDS =
  'the a of to in and said for on it mln dlrs pct year company shares oil trade bank rates market prices would ' +
  'billion from by at was its has last will with government exports week net profit quarter agreement offer';

// Writes about `bytes` bytes of JSON Lines: texts of 40-240 words drawn from a small vocabulary, 8 labels.
async function generate(path: string, bytes: number): Promise<number> {
  const words = WORDS.split(' ');
  let seed = 12345;
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const out = createWriteStream(path);
  let written = 0;
  let rows = 0;
  while (written < bytes) {
    const lines: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const n = 40 + Math.floor(next() * 200);
      const text: string[] = [`row ${rows}`];
      for (let w = 0; w < n; w++) text.push(words[Math.floor(next() * words.length)]!);
      lines.push(
        `${JSON.stringify({ text: text.join(' '), label: LABELS[Math.floor(next() * LABELS.length)] })}\n`,
      );
      rows++;
    }
    const chunk = lines.join('');
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await new Promise<void>((done) => out.once('drain', () => done()));
  }
  await new Promise<void>((done, fail) => out.end((error?: Error | null) => (error ? fail(error) : done())));
  return rows;
}

// One phase in this process: prints a JSON line of what it measured.
async function runPhase(phase: 'read' | 'load', path: string): Promise<void> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let rows: number;
  if (phase === 'read') {
    const counts = new Map<string, number>();
    rows = await readRecords(locateDataFile(path), { text: 'text', label: 'label' }, (r) => {
      counts.set(r.label, (counts.get(r.label) ?? 0) + 1);
      return undefined;
    });
  } else {
    const data = await loadFileSplits(
      {
        source: 'files',
        train: path,
        fields: { text: 'text', label: 'label' },
        splitSalt: 'bench',
        devFraction: 0.1,
        testFraction: 0.1,
      },
      {},
    );
    rows = data.splits.stats.raw;
  }
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  process.stdout.write(
    `${JSON.stringify({ phase, rows, seconds, cpuSeconds, peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { mb: { type: 'string', default: '1000' }, phase: { type: 'string' }, file: { type: 'string' } },
    strict: true,
  });
  if (values.phase !== undefined) {
    const phase = z.enum(['read', 'load']).parse(values.phase);
    return runPhase(phase, z.string().min(1).parse(values.file));
  }
  const parsed = z.coerce.number().int().min(1).max(100_000).safeParse(values.mb);
  if (!parsed.success) {
    throw new Error(`${describeIssues(parsed.error, () => '--mb')}\n${USAGE}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'bench-data-'));
  try {
    const path = join(dir, 'train.jsonl');
    const t0 = performance.now();
    const rows = await generate(path, parsed.data * 1e6);
    const bytes = (await stat(path)).size;
    process.stdout.write(
      `generated ${(bytes / 1e6).toFixed(0)} MB, ${rows.toLocaleString('en-US')} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s (${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version})\n`,
    );
    for (const phase of ['read', 'load'] as const) {
      const child = spawnSync(
        process.execPath,
        ['--import', 'tsx', fileURLToPath(import.meta.url), '--phase', phase, '--file', path],
        { encoding: 'utf8', maxBuffer: 1 << 20 },
      );
      if (child.status !== 0)
        throw new Error(`${phase} phase failed: ${child.stderr.trim().split('\n').at(-1)}`);
      const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as {
        rows: number;
        seconds: number;
        cpuSeconds: number;
        peakRssMb: number;
      };
      const what =
        phase === 'read'
          ? 'stream, parse and check every record (nothing kept)'
          : 'whole load for training (examples kept, deduplicated, split)';
      process.stdout.write(
        `${phase}: ${what}: ${r.rows.toLocaleString('en-US')} rows in ${r.seconds.toFixed(1)} s = ${Math.round(r.rows / r.seconds).toLocaleString('en-US')} rows/s, ${(bytes / 1e6 / r.seconds).toFixed(0)} MB/s (${r.cpuSeconds.toFixed(1)} s of CPU: ${Math.round(r.rows / r.cpuSeconds).toLocaleString('en-US')} rows per CPU second); peak RSS ${r.peakRssMb.toFixed(0)} MB\n`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${(error as Error).message}\n`);
  process.exit(2);
});
