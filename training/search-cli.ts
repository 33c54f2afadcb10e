import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { publishSupernet, readSupernetAt } from '../src/artifact/index.ts';
import { isSupernetError } from '../src/errors.ts';
import { openStore, s3OptionsFromEnv } from '../src/storage/index.ts';
import { Vocabulary, WordPieceTokenizer } from '../src/tokenizer/index.ts';
import { encodeTask } from './cli.ts';
import { ConfigError, configDigest, loadTrainingConfig, stageDigests, withLabels } from './config.ts';
import { describeTaskData, loadTaskData } from './data/load-task.ts';
import { DataError } from './data/read-records.ts';
import { formatDuration } from './progress.ts';
import { gitCommit, hostDescription } from './provenance.ts';
import { catalogEntries } from './publish-model.ts';
import { searchCatalog } from './search-catalog.ts';

const USAGE =
  'usage: npm run search -- --model <model folder> --config <training config> [--out <root>] [--checkpoints <folder>] [--no-latest] [--quiet]';

// The command line, parsed in this one place.
const ArgsSchema = z
  .object({
    model: z.string({ error: '--model <model folder> is required' }).min(1),
    config: z.string({ error: '--config <training config> is required' }).min(1),
    out: z.string().min(1).optional(),
    checkpoints: z.string().min(1).optional(),
    latest: z.boolean().default(true),
    quiet: z.boolean().default(false),
  })
  .strict();

class UsageError extends Error {}

function parseCommandLine(argv: string[]): z.infer<typeof ArgsSchema> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        config: { type: 'string' },
        out: { type: 'string' },
        checkpoints: { type: 'string' },
        'no-latest': { type: 'boolean' },
        quiet: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  const { 'no-latest': noLatest, ...rest } = values;
  const parsed = ArgsSchema.safeParse({ ...rest, latest: noLatest !== true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const message = issue.message.startsWith('--')
      ? issue.message
      : `--${String(issue.path[0])}: ${issue.message}`;
    throw new UsageError(`${message}\n${USAGE}`);
  }
  return parsed.data;
}

// Re-runs the search (fp32 and int8 operating points, dev and test figures) on a published supernet with the data
// of the training config it was trained from, and publishes the result as a new version of the model (same
// weights, vocabulary and training provenance; a new catalog and search record), pointing LATEST at it.
export async function researchModel(argv: string[], log: (line: string) => void): Promise<string> {
  const args = parseCommandLine(argv);
  const modelDir = resolve(args.model);
  const root = resolve(args.out ?? dirname(modelDir));
  const source = await readSupernetAt(openStore(dirname(modelDir)), basename(modelDir));
  const { manifest } = source;
  const file = await loadTrainingConfig(args.config);
  if (file.model !== manifest.model) {
    throw new UsageError(`--config trains '${file.model}', the supernet at --model is '${manifest.model}'`);
  }
  // The config may leave numLabels to its data: the labels are compared once the data is read.
  const published = manifest.architecture as Record<string, unknown>;
  const differing = Object.entries(file.architecture).filter(
    ([key, value]) => JSON.stringify(value) !== JSON.stringify(published[key]),
  );
  if (differing.length > 0) {
    const named = differing.map(
      ([key, value]) => `${key} ${JSON.stringify(value)} (published: ${JSON.stringify(published[key])})`,
    );
    throw new UsageError(
      `--config's architecture differs from the published supernet's: ${named.join(', ')}`,
    );
  }
  const task = await loadTaskData(file, { s3: s3OptionsFromEnv(process.env) });
  const config = withLabels(file, task.labels);
  if (JSON.stringify(config.labels) !== JSON.stringify(manifest.labels)) {
    throw new UsageError(`the data's labels ${config.labels.join(', ')} differ from the supernet's`);
  }
  const recipe = manifest.provenance.recipe;
  if (JSON.stringify(recipe.config) !== JSON.stringify(config)) {
    log(
      `warning: --config differs from the config ${manifest.model}/${manifest.version} records it was trained with`,
    );
  }
  const digests = stageDigests(config, task.digest);
  const checkpointDir = resolve(
    args.checkpoints ??
      join(homedir(), '.cache', 'elastic-supernet', `${manifest.model}-${manifest.version}-search`),
  );
  await mkdir(checkpointDir, { recursive: true });
  log(
    `searching ${manifest.model}/${manifest.version} with ${args.config}; figures cached in ${checkpointDir}`,
  );

  const started = performance.now();
  const tokenizer = new WordPieceTokenizer(Vocabulary.parse(source.vocabText), {
    lowercase: manifest.tokenizer.lowercase,
    stripAccents: manifest.tokenizer.stripAccents,
  });
  const logFile = join(checkpointDir, 'log.jsonl');
  const data = encodeTask(task, tokenizer, logFile, args.quiet);
  const catalog = await searchCatalog(
    { config, digests, checkpointDir, logFile, quiet: args.quiet, tokenizer, data, mirror: undefined },
    [...source.weights.values()],
  );

  const store = openStore(root, { s3: s3OptionsFromEnv(process.env) });
  const version = `${new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${configDigest(config, task.digest).slice(0, 8)}`;
  await store.write(`${manifest.model}/${version}/front.svg`, new TextEncoder().encode(catalog.svg));
  const weightDtype = manifest.weights.entries.every((e) => e.dtype === 'float16') ? 'float16' : 'float32';
  await publishSupernet(store, {
    model: manifest.model,
    version,
    architecture: manifest.architecture,
    tokenizer: manifest.tokenizer,
    labels: manifest.labels,
    ...(manifest.task && { task: manifest.task }),
    weights: [...source.weights.values()],
    vocabText: source.vocabText,
    catalog: catalogEntries(catalog.entries),
    ...(manifest.searchSpace && { searchSpace: manifest.searchSpace }),
    provenance: {
      ...manifest.provenance,
      data: describeTaskData(task),
      recipe: {
        ...recipe,
        search: catalog.summary,
        // The training above is the source version's; this version re-ran the search on its published weights.
        searchedAgain: {
          from: manifest.version,
          commit: gitCommit(),
          host: hostDescription(),
          seconds: Math.round((performance.now() - started) / 1000),
        },
      },
    },
    weightDtype,
    updateLatest: args.latest,
  });
  log(
    `published ${manifest.model}/${version} to ${root} after ${formatDuration((performance.now() - started) / 1000)}`,
  );
  for (const c of catalog.entries) {
    log(
      `  ${c.id.padEnd(48)} dev ${(c.devAccuracy * 100).toFixed(2)}%  test ${(c.testAccuracy * 100).toFixed(2)}%  ${(c.flops / 1e6).toFixed(1).padStart(8)} MFLOPs  ${c.latencyMs.toFixed(2).padStart(7)} ms`,
    );
  }
  return version;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  researchModel(process.argv.slice(2), log).then(
    (version) => {
      process.stdout.write(`${version}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      const known =
        error instanceof UsageError ||
        error instanceof ConfigError ||
        error instanceof DataError ||
        isSupernetError(error);
      process.stderr.write(`error: ${(error as Error).message ?? String(error)}\n`);
      process.exit(known ? 2 : 1);
    },
  );
}
