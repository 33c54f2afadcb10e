import { join } from 'node:path';
import { OnnxEngine } from '../src/engine/index.ts';
import { catalogCost } from '../src/model/accounting.ts';
import { type CatalogPoint, formatOperatingPointId, PRECISIONS } from '../src/model/config.ts';
import { Rng } from '../src/model/random.ts';
import type { WeightTensor } from '../src/model/weights.ts';
import { bowBaseline } from './bow-baseline.ts';
import { deriveSeed, type EncodedExample } from './data/batcher.ts';
import { PointEvaluator } from './evaluate.ts';
import { plotFront } from './plot-front.ts';
import { Progress } from './progress.ts';
import type { TrainingContext } from './run-stage.ts';
import {
  nearFront,
  paretoFront,
  precisionFronts,
  type SearchPoint,
  searchFront,
  spreadCatalog,
  standardError,
} from './search.ts';
import { readSearchCache, writeSearchCache } from './search-cache.ts';

// One catalog entry as measured at the end of training: dev and test figures and latency, all known.
export type CatalogEntry = SearchPoint & Required<Pick<CatalogPoint, 'testAccuracy' | 'latencyMs'>>;

// The searched catalog, its plot, and the summary the manifest keeps of the search.
export interface SearchedCatalog {
  entries: CatalogEntry[];
  svg: string;
  summary: Record<string, unknown>;
}

// What the search reads of a training run (a re-search from a published supernet builds the same).
export type SearchContext = Pick<
  TrainingContext,
  'config' | 'digests' | 'checkpointDir' | 'logFile' | 'quiet' | 'tokenizer' | 'data' | 'mirror'
>;

// Evolutionary search on a dev slice (fp32), then the candidates near its front measured on all of dev in fp32 and
// int8, the catalog the front of each precision, measured on test, with latencies.
export async function searchCatalog(
  ctx: SearchContext,
  weights: readonly WeightTensor[],
): Promise<SearchedCatalog> {
  // Named apart from searches cached before int8 points, which lack them.
  const cacheFile = `catalog.${ctx.digests.search}.json`;
  const cached = await readSearchCache(join(ctx.checkpointDir, cacheFile));
  if (cached) return cached;
  const { config } = ctx;
  const engine = new OnnxEngine({ intraOpThreads: Math.max(1, config.workers) });
  const evaluator = new PointEvaluator(
    config.architecture,
    weights,
    engine,
    ctx.tokenizer,
    config.data.truncation,
  );
  const searchDev = ctx.data.dev.slice(0, config.search.devExamples);
  const budget = config.search.population * (config.search.generations + 1);
  const progress = new Progress('search', budget, 0, ctx.logFile, ctx.quiet);

  const evaluated = await searchOnSlice(ctx, evaluator, searchDev, progress, budget);
  const front = paretoFront(evaluated);
  // Candidates: the points within one standard error of the front on the search slice (twice as many as the
  // catalog may hold, spread over log-cost), measured on all of dev; the catalog is the front of that measure.
  // Points the slice cannot tell from the accuracy floor stay candidates; clearly below it, they do not.
  const tolerance = standardError(front[front.length - 1]!.devAccuracy, searchDev.length);
  const floor = config.search.minDevAccuracy;
  const candidates = spreadCatalog(
    nearFront(evaluated, tolerance).filter((p) => p.devAccuracy >= floor - 2 * tolerance),
    2 * config.search.catalogSize.max,
  );
  progress.note(
    `${evaluated.length} points evaluated, ${front.length} on the front, ${candidates.length} within ${(tolerance * 100).toFixed(1)} points of it to measure on all of dev in ${PRECISIONS.join(' and ')}`,
  );
  const onDev = await measureOnDev(ctx, evaluator, candidates);
  const chosen = precisionFronts(onDev, floor, config.search.catalogSize.max);
  noteBelowFloor(onDev, floor, progress);
  const entries = await measureEntries(ctx, evaluator, chosen, progress);
  const reference = measureReference(ctx, progress);
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
    points: evaluated.map((p) => ({ id: p.id, flops: p.flops, accuracy: p.devAccuracy })),
    // The candidates near the front, measured on all of dev: the catalog is their front.
    candidates: onDev.map((p) => ({ id: p.id, flops: p.flops, devAccuracy: p.devAccuracy })),
  };
  const result = { entries, svg, summary };
  await writeSearchCache(join(ctx.checkpointDir, cacheFile), result);
  await ctx.mirror?.pushFile(cacheFile);
  return result;
}

// The evolutionary search over the config's space, each point scored on the dev slice; returns every point scored
// (`budget` of them, about, for the progress line).
function searchOnSlice(
  ctx: SearchContext,
  evaluator: PointEvaluator,
  searchDev: readonly EncodedExample[],
  progress: Progress,
  budget: number,
): Promise<SearchPoint[]> {
  const { config } = ctx;
  return searchFront({
    space: config.searchSpace,
    config: config.architecture,
    rng: new Rng(deriveSeed(config.seed, 'search')),
    population: config.search.population,
    generations: config.search.generations,
    mutationRate: config.search.mutationRate,
    cost: (p) => catalogCost(config.architecture, p),
    evaluate: (p) => evaluator.accuracy(p, searchDev),
    onEvaluated: (scored, n) =>
      progress.update(Math.min(n, budget), { acc: scored.devAccuracy, mflops: scored.flops / 1e6 }),
  });
}

// The candidates in every precision, with their accuracy and macro-F1 on all of dev.
async function measureOnDev(
  ctx: SearchContext,
  evaluator: PointEvaluator,
  candidates: readonly SearchPoint[],
): Promise<SearchPoint[]> {
  const measure = new Progress(
    'search-dev',
    candidates.length * PRECISIONS.length,
    0,
    ctx.logFile,
    ctx.quiet,
  );
  const onDev: SearchPoint[] = [];
  for (const c of candidates) {
    for (const precision of PRECISIONS) {
      const { precision: _, ...fp32 } = c;
      const point = precision === 'fp32' ? fp32 : { ...fp32, precision };
      const scores = await evaluator.scores(point, ctx.data.dev);
      onDev.push({
        ...point,
        id: formatOperatingPointId(point),
        devAccuracy: scores.accuracy,
        devMacroF1: scores.macroF1,
      });
      measure.update(onDev.length, { acc: scores.accuracy });
    }
  }
  return onDev;
}

// Notes the fp32 front's points the dev accuracy floor leaves out.
function noteBelowFloor(onDev: readonly SearchPoint[], floor: number, progress: Progress): void {
  const fp32 = onDev.filter((p) => (p.precision ?? 'fp32') === 'fp32');
  const belowFloor = paretoFront(fp32).filter((p) => p.devAccuracy < floor);
  if (belowFloor.length > 0) {
    progress.note(
      `left out below the ${(floor * 100).toFixed(1)}% dev floor: ${belowFloor.map((p) => `${p.id} (${(p.devAccuracy * 100).toFixed(2)}%)`).join(', ')}`,
    );
  }
}

// The chosen points with their test figures and their latency on the longest dev example.
async function measureEntries(
  ctx: SearchContext,
  evaluator: PointEvaluator,
  chosen: readonly SearchPoint[],
  progress: Progress,
): Promise<CatalogEntry[]> {
  const longest = longestExample(ctx.data.dev);
  const entries: CatalogEntry[] = [];
  const finish = new Progress('search-test', chosen.length, 0, ctx.logFile, ctx.quiet);
  for (const c of chosen) {
    finish.update(entries.length, {});
    const test = await evaluator.scores(c, ctx.data.test);
    const latencyMs = await evaluator.latencyMs(c, longest);
    const entry = { ...c, testAccuracy: test.accuracy, testMacroF1: test.macroF1, latencyMs };
    entries.push(entry);
    progress.note(
      `${c.id}: dev ${(c.devAccuracy * 100).toFixed(2)}% (macro-F1 ${(entry.devMacroF1! * 100).toFixed(2)})  test ${(test.accuracy * 100).toFixed(2)}% (macro-F1 ${(test.macroF1 * 100).toFixed(2)})  ${(c.flops / 1e6).toFixed(1)} MFLOPs  ${latencyMs.toFixed(2)} ms`,
    );
  }
  finish.update(entries.length, {});
  const { min } = ctx.config.search.catalogSize;
  if (entries.length < min) {
    progress.note(
      `only ${entries.length} catalog points (asked for at least ${min}): larger subnets measured no better than cheaper ones on dev`,
    );
  }
  return entries;
}

// The bag-of-words reference at every token length of the space, noted beside the catalog.
function measureReference(ctx: SearchContext, progress: Progress): ReturnType<typeof bowBaseline> {
  const { config, data } = ctx;
  const reference = bowBaseline(
    data.train,
    data.dev,
    data.test,
    config.searchSpace.tokenChoices,
    config.architecture.numLabels,
  );
  for (const r of reference) {
    progress.note(
      `reference: bag-of-words logistic regression at ${r.tokens} tokens: dev ${(r.devAccuracy * 100).toFixed(2)}% (macro-F1 ${(r.devMacroF1 * 100).toFixed(2)})  test ${(r.testAccuracy * 100).toFixed(2)}% (macro-F1 ${(r.testMacroF1 * 100).toFixed(2)})`,
    );
  }
  return reference;
}

function longestExample(examples: readonly EncodedExample[]): EncodedExample {
  const length = (e: EncodedExample) => e.pieces.length + (e.pairPieces?.length ?? 0);
  return examples.reduce((a, b) => (length(b) > length(a) ? b : a));
}
