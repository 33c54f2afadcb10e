import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { BACKEND_PREFERENCES, type BackendPreference, selectBackend } from '../src/backend/select-backend.ts';
import { isSupernetError } from '../src/errors.ts';
import { formatOperatingPointId } from '../src/model/index.ts';
import { openStore, s3OptionsFromEnv } from '../src/storage/index.ts';
import { loadBertUncasedVocabulary, WordPieceTokenizer } from '../src/tokenizer/index.ts';
import { CheckpointMismatchError } from './checkpoint.ts';
import { acquireCheckpointLock, assertUnlocked, CheckpointLockError } from './checkpoint-lock.ts';
import { CheckpointMirror } from './checkpoint-mirror.ts';
import {
  ConfigError,
  configDigest,
  loadTrainingConfig,
  stageDigests,
  type TrainingConfig,
  withLabels,
} from './config.ts';
import type { EncodedExample } from './data/batcher.ts';
import type { Example } from './data/example.ts';
import type { TaskData } from './data/load-files.ts';
import { describeBalance, namedBalance, SPLIT_NAMES } from './data/load-files.ts';
import { describeTaskData, loadTaskData } from './data/load-task.ts';
import { DataError } from './data/read-records.ts';
import { FlatLayout } from './flat-params.ts';
import { loadInitCheckpoint } from './init-checkpoint.ts';
import { GradientPool } from './parallel/gradient-pool.ts';
import { type TrainingReport, trainSupernet } from './pipeline.ts';
import { formatDuration, Progress } from './progress.ts';
import { Interrupted, type TrainingContext } from './run-stage.ts';
import { parseStandaloneTarget, trainStandalone } from './standalone.ts';

const USAGE =
  'usage: npm run train -- --config <file> --out <folder|s3://bucket/prefix> [--checkpoints <folder>] [--mirror <folder|s3://bucket/prefix>] [--backend auto|wasm|cpu|node|node-gpu] [--standalone <id>] [--max-steps N] [--checkpoint-every SECONDS] [--fresh] [--quiet]';

// The command line, parsed in this one place.
const ArgsSchema = z
  .object({
    config: z.string({ error: '--config <file> is required' }).min(1),
    out: z.string({ error: '--out <folder|s3://bucket/prefix> is required' }).min(1),
    checkpoints: z.string().min(1).optional(),
    mirror: z.string().min(1).optional(),
    backend: z.enum(BACKEND_PREFERENCES as [BackendPreference, ...BackendPreference[]]).default('wasm'),
    standalone: z.string().min(1).optional(),
    fresh: z.boolean().default(false),
    quiet: z.boolean().default(false),
    checkpointEverySeconds: z.coerce.number().int().min(1).default(120),
    maxSteps: z.coerce.number().int().positive().optional(),
  })
  .strict();
type Args = z.infer<typeof ArgsSchema>;

class UsageError extends Error {}

function parseCommandLine(argv: string[]): Args {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        out: { type: 'string' },
        checkpoints: { type: 'string' },
        mirror: { type: 'string' },
        backend: { type: 'string' },
        standalone: { type: 'string' },
        fresh: { type: 'boolean' },
        quiet: { type: 'boolean' },
        'checkpoint-every': { type: 'string' },
        'max-steps': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  const { 'checkpoint-every': every, 'max-steps': maxSteps, ...rest } = values;
  const parsed = ArgsSchema.safeParse({ ...rest, checkpointEverySeconds: every, maxSteps });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // Name the flag as typed (checkpointEverySeconds -> --checkpoint-every) unless the message already does.
    const flags: Record<string, string> = {
      checkpointEverySeconds: 'checkpoint-every',
      maxSteps: 'max-steps',
    };
    const key = String(issue.path[0] ?? '');
    const message = issue.message.startsWith('--')
      ? issue.message
      : `--${flags[key] ?? key}: ${issue.message}`;
    throw new UsageError(`${message}\n${USAGE}`);
  }
  return parsed.data;
}

// Opens the checkpoint folder for one job (the supernet pipeline, or one standalone baseline) and takes the job's
// lock: CheckpointLockError when a live process holds it, and with --fresh (which empties the whole folder)
// when any job does.
async function openCheckpoints(dir: string, job: string, fresh: boolean): Promise<void> {
  if (fresh) {
    assertUnlocked(dir);
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
  acquireCheckpointLock(dir, job);
}

// Refuses a folder that belongs to another run: another model, seed, architecture, data or batch size (--fresh
// emptied it before). Stages edited since are rerun under their new digests. Returns the run's clock.
async function prepareCheckpoints(dir: string, digest: string): Promise<{ seconds: number }> {
  const runFile = join(dir, 'run.json');
  let run: { configDigest: string; seconds: number } | undefined;
  try {
    run = JSON.parse(await readFile(runFile, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (run && run.configDigest !== digest) {
    throw new CheckpointMismatchError(
      `checkpoints in ${dir} belong to another run (${run.configDigest}: model, seed, architecture, data or batch size differ from this config's ${digest}); pass another --checkpoints folder, or --fresh to discard them`,
    );
  }
  await writeFile(runFile, JSON.stringify({ configDigest: digest, seconds: run?.seconds ?? 0 }));
  return { seconds: run?.seconds ?? 0 };
}

// A mirror that cannot be read or written stops the run before any work, in one line.
function mirrorFailed(uri: string) {
  return (error: unknown): never => {
    throw new UsageError(`--mirror ${uri}: ${(error as Error).message}`);
  };
}

// Writes and removes a probe object, so an unwritable output fails now rather than after hours of training.
async function probeOutput(out: string) {
  const store = openStore(out, { s3: s3OptionsFromEnv(process.env) });
  const key = `.write-probe-${process.pid}`;
  try {
    await store.write(key, new TextEncoder().encode('probe'));
    await store.remove(key);
  } catch (error) {
    throw new UsageError(`--out ${out} cannot be written: ${(error as Error).message}`);
  }
  return store;
}

// Encodes a task's splits once (wordpieces, packed at any length later) and reports their sizes and class balance.
export function encodeTask(
  task: TaskData,
  tokenizer: WordPieceTokenizer,
  logFile: string,
  quiet: boolean,
): TrainingContext['data'] {
  const splits = task.splits;
  const total = splits.train.length + splits.dev.length + splits.test.length;
  const progress = new Progress('data', total, 0, logFile, quiet);
  const data = {
    train: encodeExamples(tokenizer, splits.train, progress, 0),
    dev: encodeExamples(tokenizer, splits.dev, progress, splits.train.length),
    test: encodeExamples(tokenizer, splits.test, progress, splits.train.length + splits.dev.length),
  };
  progress.update(total, {});
  progress.note(
    `${splits.stats.train} train, ${splits.stats.dev} dev, ${splits.stats.test} test (${splits.stats.duplicates} duplicates dropped); ${task.labels.length} labels from the ${task.labelsFrom}`,
  );
  for (const split of SPLIT_NAMES) {
    progress.note(`${split} class balance: ${describeBalance(task.balance[split], task.labels)}`);
  }
  return data;
}

function encodeExamples(
  tokenizer: WordPieceTokenizer,
  examples: Example[],
  progress: Progress,
  offset: number,
) {
  return examples.map((e, i): EncodedExample => {
    if (i % 2000 === 0) progress.update(offset + i, {});
    const pieces = tokenizer.encode(e.text);
    return e.textPair === undefined
      ? { pieces, label: e.label }
      : { pieces, pairPieces: tokenizer.encode(e.textPair), label: e.label };
  });
}

// What stdout says after a run: where the version went, and its catalog.
function describeReport(report: TrainingReport, out: string): string {
  const lines = [
    `published ${report.model}/${report.version} to ${out} after ${formatDuration(report.trainingSeconds)} of training`,
    'catalog (test accuracy on the held-out split):',
    ...report.catalog.map(
      (c) =>
        `  ${c.id.padEnd(60)} dev ${(c.devAccuracy * 100).toFixed(2)}%  test ${(c.testAccuracy * 100).toFixed(2)}%${c.testMacroF1 === undefined ? '' : ` (macro-F1 dev ${(c.devMacroF1! * 100).toFixed(2)}, test ${(c.testMacroF1 * 100).toFixed(2)})`}  ${(c.flops / 1e6).toFixed(1).padStart(8)} MFLOPs  ${c.latencyMs.toFixed(2).padStart(7)} ms`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const args = parseCommandLine(argv);
  const { config, task, init } = await loadRunInputs(args);
  const digest = configDigest(config, task.digest);
  const digests = stageDigests(config, task.digest);
  const { checkpointDir, mirror, restored, run, standalone } = await openRunFolder(args, config, digests.run);
  const store = await probeOutput(args.out);
  const logFile = join(checkpointDir, 'log.jsonl');
  const log = (line: string) => {
    if (!args.quiet) process.stderr.write(`${line}\n`);
  };
  await selectBackend(args.backend, log);
  log(`config ${args.config} (digest ${digest}); checkpoints in ${checkpointDir}`);
  if (mirror) {
    log(
      `checkpoints mirrored to ${mirror.store.uri}${restored.length > 0 ? `; restored from it: ${restored.join(', ')}` : ''}`,
    );
  }
  const clock = startClock(checkpointDir, digests.run, run.seconds, args.standalone !== undefined);

  const tokenizer = init?.tokenizer ?? new WordPieceTokenizer(loadBertUncasedVocabulary());
  const data = encodeTask(task, tokenizer, logFile, args.quiet);
  if (init) log(`starting from ${init.uri} (its ${init.weights.length} tensors and vocabulary)`);

  const layout = new FlatLayout(config.architecture);
  const pool = await GradientPool.start(
    config.architecture,
    config.workers,
    args.backend,
    new Float32Array(layout.total),
  );
  const stopRequested = stopOnSignal();
  let stepsTaken = 0;
  const ctx: TrainingContext = {
    config,
    digest,
    digests,
    checkpointDir,
    logFile,
    pool,
    layout,
    tokenizer,
    ...(init && { initWeights: init.weights }),
    data,
    dataStats: task.splits.stats,
    dataRecord: { description: describeTaskData(task), classBalance: namedBalance(task) },
    quiet: args.quiet,
    // --max-steps: stop (with a checkpoint) after that many optimizer steps in this invocation.
    afterStep: () => stopRequested() || (args.maxSteps !== undefined && ++stepsTaken >= args.maxSteps),
    checkpointEverySeconds: args.checkpointEverySeconds,
    mirror,
    elapsedSeconds: clock.elapsedSeconds,
  };
  try {
    if (standalone) {
      const report = await trainStandalone(ctx, standalone);
      process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
    } else {
      const report = await trainSupernet(ctx, store, args.out);
      process.stdout.write(describeReport(report, args.out));
    }
    return 0;
  } finally {
    await clock.stop();
    await pool.close();
  }
}

// The config, its data and the checkpoint it starts from, if any. The data is read and checked first: bad data is
// refused before a checkpoint folder or the output is touched; so is a checkpoint to start from.
async function loadRunInputs(args: Args) {
  const file = await loadTrainingConfig(args.config);
  const task = await loadTaskData(file, { s3: s3OptionsFromEnv(process.env) });
  const config: TrainingConfig = withLabels(file, task.labels);
  const init = config.init
    ? await loadInitCheckpoint(
        config.init.checkpoint,
        config.architecture,
        args.config,
        s3OptionsFromEnv(process.env),
      )
    : undefined;
  return { config, task, init };
}

// The run's checkpoint folder, locked, with what the mirror restored into it (--fresh: emptied, mirror too), and
// the run's clock so far.
async function openRunFolder(args: Args, config: TrainingConfig, runDigest: string) {
  const checkpointDir = resolve(
    args.checkpoints ?? join(homedir(), '.cache', 'elastic-supernet', `${config.model}-${runDigest}`),
  );
  // --mirror: checkpoints are copied there after every save and brought back from there on start (a retried
  // AWS Batch job starts on a new host with an empty disk).
  const mirror = args.mirror
    ? new CheckpointMirror(
        openStore(`${args.mirror.replace(/\/+$/, '')}/${config.model}-${runDigest}`, {
          s3: s3OptionsFromEnv(process.env),
        }),
        checkpointDir,
        (error) => process.stderr.write(`warning: --mirror ${args.mirror}: ${error.message}\n`),
      )
    : undefined;
  const standalone =
    args.standalone === undefined
      ? undefined
      : parseStandaloneTarget(args.standalone, Math.max(...config.searchSpace.tokenChoices));
  // The lock comes first: restoring from the mirror writes into the folder.
  await openCheckpoints(
    checkpointDir,
    standalone ? `standalone-${formatOperatingPointId(standalone)}` : 'supernet',
    args.fresh,
  );
  if (mirror && args.fresh) await mirror.clear().catch(mirrorFailed(args.mirror!));
  const restored = mirror && !args.fresh ? await mirror.restore().catch(mirrorFailed(args.mirror!)) : [];
  const run = await prepareCheckpoints(checkpointDir, runDigest);
  return { checkpointDir, mirror, restored, run, standalone };
}

// The run's clock (run.json) adds up the supernet's training across invocations, saved every 30 s and at the
// end; a standalone baseline shares the checkpoint folder but is not part of it, so it neither adds to the clock
// nor overwrites it.
function startClock(checkpointDir: string, runDigest: string, secondsBefore: number, standalone: boolean) {
  const started = performance.now();
  const elapsedSeconds = () => secondsBefore + (performance.now() - started) / 1000;
  const saveClock = () =>
    standalone
      ? Promise.resolve()
      : writeFile(
          join(checkpointDir, 'run.json'),
          JSON.stringify({ configDigest: runDigest, seconds: elapsedSeconds() }),
        );
  const timer = setInterval(() => saveClock().catch(() => {}), 30_000);
  return {
    elapsedSeconds,
    stop: () => {
      clearInterval(timer);
      return saveClock();
    },
  };
}

// Whether SIGINT or SIGTERM asked the run to stop: it saves a checkpoint after the current step. A second signal
// quits at once.
function stopOnSignal(): () => boolean {
  let stop = false;
  const onSignal = (signal: string) => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write(`\n${signal}: saving a checkpoint after this step (again to quit at once)\n`);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  return () => stop;
}

// Every failure ends in one line on stderr (the tfjs wasm module would otherwise print its whole source).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof Interrupted) {
        process.stderr.write(`stopped: ${error.message}; run the same command to resume\n`);
        process.exit(130);
      }
      const known =
        error instanceof UsageError ||
        error instanceof ConfigError ||
        error instanceof DataError ||
        error instanceof CheckpointMismatchError ||
        error instanceof CheckpointLockError ||
        isSupernetError(error);
      process.stderr.write(`error: ${(error as Error).message ?? String(error)}\n`);
      if (!known && process.env.TRAIN_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
      process.exit(known ? 2 : 1);
    },
  );
}
