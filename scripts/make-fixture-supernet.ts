// Publishes a random-weight supernet with a made-up catalog, for load tests and demos before a trained model
// exists. Outputs are meaningless; shapes, token lengths and therefore latencies are realistic.
//   node --import tsx scripts/make-fixture-supernet.ts --out <folder> [--shape default|small] [--model NAME]
//     [--version V] [--seed N]
// Writes <folder>/<model>/<version>/ and <folder>/<model>/LATEST, and prints the model root (a SUPERNET_URI).

import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { publishSupernet } from '../src/artifact/publish-supernet.ts';
import { describeIssues } from '../src/describe-issues.ts';
import { subnetCost } from '../src/model/accounting.ts';
import type { SubnetConfig, SupernetConfig } from '../src/model/config.ts';
import { FileStore } from '../src/storage/file-store.ts';
import { loadBertUncasedVocabulary } from '../src/tokenizer/vocabulary.ts';
import { randomSupernetWeights } from '../test/helpers/random-weights.ts';

const USAGE =
  'usage: node --import tsx scripts/make-fixture-supernet.ts --out <folder> [--shape default|small] [--model NAME] [--version V] [--seed N]';

// A fixture's shape and catalog: operating points with made-up dev accuracies that rise with cost.
interface FixtureShape {
  architecture: SupernetConfig;
  points: ReadonlyArray<{
    layers: ReadonlyArray<readonly [number, number]>;
    tokens: number;
    devAccuracy: number;
  }>;
}

// [heads, ffn] per layer, layers 0..n-1.
const uniform = (depth: number, heads: number, ffn: number) =>
  Array.from({ length: depth }, () => [heads, ffn] as const);

// The realistic shape: hidden 128, 4 layers, 4 heads of 32, FFN 512, 256 tokens, the BERT vocabulary.
const DEFAULT_FIXTURE: FixtureShape = {
  architecture: {
    vocabSize: 30522,
    hiddenSize: 128,
    maxTokens: 256,
    maxLayers: 4,
    maxHeads: 4,
    headSize: 32,
    maxFfn: 512,
    numLabels: 2,
    layerNormEps: 1e-5,
  },
  points: [
    { layers: uniform(1, 1, 128), tokens: 32, devAccuracy: 0.74 },
    { layers: uniform(1, 2, 256), tokens: 64, devAccuracy: 0.79 },
    { layers: uniform(2, 2, 256), tokens: 128, devAccuracy: 0.83 },
    { layers: uniform(2, 4, 512), tokens: 128, devAccuracy: 0.845 },
    { layers: uniform(4, 2, 256), tokens: 128, devAccuracy: 0.855 },
    { layers: uniform(2, 4, 512), tokens: 256, devAccuracy: 0.865 },
    { layers: uniform(4, 4, 512), tokens: 128, devAccuracy: 0.87 },
    { layers: uniform(4, 4, 512), tokens: 256, devAccuracy: 0.885 },
  ],
};

// A small shape for smoke tests: quick to publish, load and calibrate.
const SMALL_FIXTURE: FixtureShape = {
  architecture: {
    vocabSize: 30522,
    hiddenSize: 32,
    maxTokens: 64,
    maxLayers: 2,
    maxHeads: 2,
    headSize: 16,
    maxFfn: 64,
    numLabels: 2,
    layerNormEps: 1e-5,
  },
  points: [
    { layers: uniform(1, 1, 32), tokens: 16, devAccuracy: 0.7 },
    { layers: uniform(1, 2, 64), tokens: 32, devAccuracy: 0.75 },
    { layers: uniform(2, 2, 64), tokens: 64, devAccuracy: 0.8 },
  ],
};

export const FIXTURE_SHAPES = { default: DEFAULT_FIXTURE, small: SMALL_FIXTURE } as const;

const ArgsSchema = z
  .object({
    out: z.string({ error: '--out <folder> is required' }).min(1),
    shape: z.enum(['default', 'small']).default('default'),
    model: z.string().min(1).default('fixture-sentiment'),
    version: z.string().min(1).default('fixture-1'),
    seed: z.coerce.number().int().nonnegative().default(1),
  })
  .strict();
export type MakeFixtureSupernetArgs = z.output<typeof ArgsSchema>;

// Publishes the fixture into `out` and returns the model root (what SUPERNET_URI names).
export async function makeFixtureSupernet(args: MakeFixtureSupernetArgs): Promise<string> {
  const shape = FIXTURE_SHAPES[args.shape];
  const arch = shape.architecture;
  const referenceTokens = arch.maxTokens;
  await publishSupernet(new FileStore(args.out), {
    model: args.model,
    version: args.version,
    architecture: arch,
    tokenizer: {
      kind: 'wordpiece',
      lowercase: true,
      stripAccents: true,
      maxTokens: arch.maxTokens,
      truncation: 'head-tail',
      specialTokens: { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]' },
    },
    labels: ['negative', 'positive'],
    weights: randomSupernetWeights(arch, args.seed),
    vocabText: loadBertUncasedVocabulary().toVocabText(),
    catalog: shape.points.map((p) => {
      const subnet: SubnetConfig = {
        layers: p.layers.map(([heads, ffn], layer) => ({ layer, heads, ffn })),
      };
      const cost = subnetCost(arch, subnet, 1, referenceTokens);
      return {
        subnet,
        tokens: p.tokens,
        params: cost.params,
        flops: cost.flops,
        referenceTokens,
        devAccuracy: p.devAccuracy,
      };
    }),
    provenance: {
      data: 'random weights (fixture)',
      splitSeed: 'none',
      recipe: { kind: 'fixture', shape: args.shape, seed: args.seed },
      commit: 'fixture',
    },
    overwrite: true,
  });
  return join(resolve(args.out), args.model);
}

function parseCommandLine(argv: string[]): MakeFixtureSupernetArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      shape: { type: 'string' },
      model: { type: 'string' },
      version: { type: 'string' },
      seed: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const parsed = ArgsSchema.safeParse(values);
  if (!parsed.success)
    throw new Error(`${describeIssues(parsed.error, (path) => `--${path.join('.')}`)}\n${USAGE}`);
  return parsed.data;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let args: MakeFixtureSupernetArgs;
  try {
    args = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  console.log(await makeFixtureSupernet(args));
}
