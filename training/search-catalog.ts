import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OnnxEngine } from '../src/engine/index.ts';
import { countFlops, countParams } from '../src/model/accounting.ts';
import { formatOperatingPointId, type OperatingPoint, PRECISIONS } from '../src/model/config.ts';
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
  type ScoredPoint,
  searchFront,
  spreadCatalog,
  standardError,
} from './search.ts';

// One catalog entry as measured at the end of training.
export interface CatalogResult extends ScoredPoint {
  params: number;
  devAccuracy: number;
  testAccuracy: number;
  // Absent from a search cached before macro-F1 was measured.
  devMacroF1?: number;
  testMacroF1?: number;
  latencyMs: number;
}

// The searched catalog, its plot, and the summary the manifest keeps of the search.
export interface SearchedCatalog {
  entries: CatalogResult[];
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
  const cached = await readJson<SearchedCatalog>(join(ctx.checkpointDir, cacheFile));
  if (cached) return cached;
  const { config } = ctx;
  const arch = config.architecture;
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
    `${evaluated.length} points evaluated, ${front.length} on the front, ${candidates.length} within ${(tolerance * 100).toFixed(1)} points of it to measure on all of dev in ${PRECISIONS.join(' and ')}`,
  );
  const measure = new Progress(
    'search-dev',
    candidates.length * PRECISIONS.length,
    0,
    ctx.logFile,
    ctx.quiet,
  );
  const onDev: ScoredPoint[] = [];
  const devMacroF1 = new Map<string, number>();
  for (const c of candidates) {
    for (const precision of PRECISIONS) {
      const point: OperatingPoint = precision === 'fp32' ? c.point : { ...c.point, precision };
      const id = formatOperatingPointId(point);
      const scores = await evaluator.scores(point, ctx.data.dev);
      devMacroF1.set(id, scores.macroF1);
      onDev.push({ ...c, point, id, accuracy: scores.accuracy });
      measure.update(onDev.length, { acc: scores.accuracy });
    }
  }
  const chosen = precisionFronts(onDev, floor, config.search.catalogSize.max);
  const belowFloor = paretoFront(onDev.filter((p) => p.point.precision === undefined)).filter(
    (p) => p.accuracy < floor,
  );
  if (belowFloor.length > 0) {
    progress.note(
      `left out below the ${(floor * 100).toFixed(1)}% dev floor: ${belowFloor.map((p) => `${p.id} (${(p.accuracy * 100).toFixed(2)}%)`).join(', ')}`,
    );
  }
  const longest = longestExample(ctx.data.dev);
  const entries: CatalogResult[] = [];
  const finish = new Progress('search-test', chosen.length, 0, ctx.logFile, ctx.quiet);
  for (const c of chosen) {
    finish.update(entries.length, {});
    const test = await evaluator.scores(c.point, ctx.data.test);
    const latencyMs = await evaluator.latencyMs(c.point, longest);
    const entry = {
      ...c,
      params: countParams(arch, c.point.subnet),
      devAccuracy: c.accuracy,
      devMacroF1: devMacroF1.get(c.id)!,
      testAccuracy: test.accuracy,
      testMacroF1: test.macroF1,
      latencyMs,
    };
    entries.push(entry);
    progress.note(
      `${c.id}: dev ${(c.accuracy * 100).toFixed(2)}% (macro-F1 ${(entry.devMacroF1 * 100).toFixed(2)})  test ${(test.accuracy * 100).toFixed(2)}% (macro-F1 ${(test.macroF1 * 100).toFixed(2)})  ${(c.flops / 1e6).toFixed(1)} MFLOPs  ${latencyMs.toFixed(2)} ms`,
    );
  }
  finish.update(entries.length, {});
  if (entries.length < config.search.catalogSize.min) {
    progress.note(
      `only ${entries.length} catalog points (asked for at least ${config.search.catalogSize.min}): larger subnets measured no better than cheaper ones on dev`,
    );
  }
  const reference = bowBaseline(
    ctx.data.train,
    ctx.data.dev,
    ctx.data.test,
    config.searchSpace.tokenChoices,
    arch.numLabels,
  );
  for (const r of reference) {
    progress.note(
      `reference: bag-of-words logistic regression at ${r.tokens} tokens: dev ${(r.devAccuracy * 100).toFixed(2)}% (macro-F1 ${(r.devMacroF1 * 100).toFixed(2)})  test ${(r.testAccuracy * 100).toFixed(2)}% (macro-F1 ${(r.testMacroF1 * 100).toFixed(2)})`,
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
  await writeFile(join(ctx.checkpointDir, cacheFile), JSON.stringify(result));
  await ctx.mirror?.pushFile(cacheFile);
  return result;
}

function longestExample(examples: readonly EncodedExample[]): EncodedExample {
  const length = (e: EncodedExample) => e.pieces.length + (e.pairPieces?.length ?? 0);
  return examples.reduce((a, b) => (length(b) > length(a) ? b : a));
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
