import { hostname } from 'node:os';
import type { Manifest } from '../src/artifact/manifest.ts';
import type { LoadedSupernet } from '../src/artifact/read-supernet.ts';
import { ArtifactError } from '../src/errors.ts';
import type { CatalogPoint } from '../src/model/config.ts';
import { checkWeights } from '../src/model/weight-checks.ts';
import { supernetWeightLayout } from '../src/model/weight-layout.ts';
import { Vocabulary } from '../src/tokenizer/vocabulary.ts';
import { WordPieceTokenizer } from '../src/tokenizer/word-piece-tokenizer.ts';
import { type CalibrationResult, calibrateLatency } from './calibrate-latency.ts';
import type { ServingConfig } from './config.ts';
import type { EngineSlots } from './engine-slots.ts';
import type { EnginePool, InferencePool } from './inference-pool.ts';
import { LatencyModel } from './latency-model.ts';
import { type BatchReport, Scheduler } from './scheduler.ts';
import type { SelectionTable } from './select-operating-point.ts';
import { type ServedPoint, type ServedSubnet, servedPoints } from './served-point.ts';

// How a ServingModel is built: on the engines and slots every model of the server shares.
export interface ServingModelOptions {
  config: ServingConfig;
  engines: EnginePool;
  slots: EngineSlots;
  // Wraps the model's pool (tests hold calls in flight with it).
  wrapPool?: (pool: InferencePool) => InferencePool;
  onBatch?: (report: BatchReport) => void;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export type { ServedPoint } from './served-point.ts';

const STANDARD_SPECIALS = { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]' } as const;

// One verified supernet version ready to serve: tokenizer, catalog tables, calibrated latency model, pool and
// scheduler. Immutable once built; a hot reload builds a new one and retires the old.
export class ServingModel {
  readonly manifest: Manifest;
  readonly name: string;
  readonly version: string;
  readonly labels: readonly string[];
  readonly tokenizer: WordPieceTokenizer;
  readonly points: readonly ServedPoint[];
  readonly table: SelectionTable;
  readonly latency: LatencyModel;
  readonly scheduler: Scheduler;
  readonly pool: InferencePool;
  readonly calibration: CalibrationResult & { host: string; engine: string; workers: number };
  readonly loadedAt: Date;
  private readonly byId: ReadonlyMap<string, number>;
  private retired: Promise<void> | undefined;

  private constructor(fields: {
    manifest: Manifest;
    tokenizer: WordPieceTokenizer;
    points: ServedPoint[];
    table: SelectionTable;
    latency: LatencyModel;
    pool: InferencePool;
    scheduler: Scheduler;
    calibration: ServingModel['calibration'];
  }) {
    const { manifest, points, table } = fields;
    this.manifest = manifest;
    this.name = manifest.model;
    this.version = manifest.version;
    this.labels = manifest.labels;
    this.tokenizer = fields.tokenizer;
    this.points = points;
    this.table = table;
    this.latency = fields.latency;
    this.pool = fields.pool;
    this.scheduler = fields.scheduler;
    this.calibration = fields.calibration;
    this.loadedAt = new Date();
    // Operating point ids, and bare subnet ids (naming that subnet's most accurate point).
    const byId = new Map<string, number>();
    for (const index of [...table.order].reverse()) byId.set(points[index]!.subnetId, index);
    for (const p of points) byId.set(p.id, p.index);
    this.byId = byId;
  }

  // Verifies a read supernet beyond its checksums (catalog, tokenizer, weight layout), materializes the catalog's
  // subnets on the pool, calibrates latency on this host, and returns the model ready to serve.
  static async create(supernet: LoadedSupernet, options: ServingModelOptions): Promise<ServingModel> {
    const { config } = options;
    const { manifest } = supernet;
    const tokenizer = verifiedTokenizer(supernet);
    const { points, subnets } = servedPoints(manifest);
    const pool = await startPool(supernet, subnets, options);
    try {
      const calibration = await calibrateOnPool(pool, points, tokenizer.vocabulary.size, config);
      const latency = new LatencyModel(
        points.map((p) => p.cost),
        calibration.fits,
        config.latencyEwmaAlpha,
        { targetQuantile: config.latencyTargetQuantile, groups: points.map((p) => p.subnetIndex) },
      );
      const scheduler = new Scheduler({
        pool,
        latency,
        padId: tokenizer.vocabulary.padId,
        numLabels: manifest.architecture.numLabels,
        maxBatch: config.maxBatch,
        maxBatchMs: config.maxBatchMs,
        maxQueue: config.maxQueue,
        slots: options.slots,
        ...(options.onBatch ? { onBatch: options.onBatch } : {}),
      });
      return new ServingModel({
        manifest,
        tokenizer,
        points,
        table: selectionTable(points, latency, config),
        latency,
        pool,
        scheduler,
        calibration: { ...calibration, host: hostname(), engine: config.engine, workers: pool.slots },
      });
    } catch (error) {
      await pool.dispose().catch(() => {});
      throw error;
    }
  }

  // The operating point an id names (an operating point id, or a bare subnet id), or undefined.
  pointById(id: string): number | undefined {
    return this.byId.get(id);
  }

  // Stops taking part in serving: waits for its queued and running work, then frees the pool. Idempotent.
  retire(): Promise<void> {
    this.retired ??= this.scheduler.whenIdle().then(() => {
      this.scheduler.detach();
      return this.pool.dispose();
    });
    return this.retired;
  }
}

// A point's dev accuracy for ranking and for accuracy floors: an unknown accuracy (an imported checkpoint
// published without labelled data) counts as 0, so it never meets a floor it cannot be shown to meet.
export function knownAccuracy(entry: Pick<CatalogPoint, 'devAccuracy'>): number {
  return entry.devAccuracy ?? 0;
}

// The tokenizer a supernet's manifest describes, after checking its catalog, special tokens, vocabulary and
// weight layout against the manifest.
function verifiedTokenizer({ manifest, weights, vocabText }: LoadedSupernet): WordPieceTokenizer {
  const where = `${manifest.model} version ${manifest.version}`;
  if (manifest.catalog.length === 0) {
    throw new ArtifactError('INVALID_ARTIFACT', `${where}: the catalog is empty, nothing to serve`);
  }
  for (const [role, token] of Object.entries(manifest.tokenizer.specialTokens)) {
    if (STANDARD_SPECIALS[role as keyof typeof STANDARD_SPECIALS] !== token) {
      throw new ArtifactError(
        'INVALID_ARTIFACT',
        `${where}: special token ${role} '${token}' is not supported`,
      );
    }
  }
  const vocabulary = Vocabulary.parse(vocabText);
  if (vocabulary.size !== manifest.tokenizer.vocabSize) {
    throw new ArtifactError(
      'INVALID_ARTIFACT',
      `${where}: vocab.txt has ${vocabulary.size} tokens, the manifest says ${manifest.tokenizer.vocabSize}`,
    );
  }
  checkWeights(supernetWeightLayout(manifest.architecture), weights, `${where} weights`);
  return new WordPieceTokenizer(vocabulary, {
    lowercase: manifest.tokenizer.lowercase,
    stripAccents: manifest.tokenizer.stripAccents,
  });
}

// The inference pool with the catalog's distinct subnets materialized.
async function startPool(
  { manifest, weights }: LoadedSupernet,
  subnets: ServedSubnet[],
  options: ServingModelOptions,
): Promise<InferencePool> {
  const { config } = options;
  const started = performance.now();
  const attached = await options.engines.attach({ config: manifest.architecture, subnets }, weights);
  const pool = options.wrapPool ? options.wrapPool(attached) : attached;
  options.log?.('subnets materialized', {
    subnets: subnets.length,
    engine: config.engine,
    ...(config.engine === 'onnx' && { graph: config.onnxGraph }),
    workers: config.inferenceWorkers,
    ms: Math.round(performance.now() - started),
  });
  const int8 = subnets.filter((s) => s.precision === 'int8').length;
  if (config.engine === 'tfjs' && int8 > 0) {
    options.log?.(
      'int8 subnets run simulated on tfjs: float32 with dequantized int8 weights (the answers of int8, the speed and memory of fp32)',
      { subnets: int8 },
    );
  }
  return pool;
}

// Times every operating point on the pool's slots (random token ids) and fits its latency on this host.
function calibrateOnPool(
  pool: InferencePool,
  points: readonly ServedPoint[],
  vocabSize: number,
  config: ServingConfig,
): Promise<CalibrationResult> {
  return calibrateLatency({
    points: points.map((p) => ({ subnetIndex: p.subnetIndex, tokens: p.entry.tokens, cost: p.cost })),
    run: async (slot, subnet, batch) => {
      const t0 = performance.now();
      await pool.run(slot, subnet, batch);
      return performance.now() - t0;
    },
    slots: pool.slots,
    budgetMs: config.calibrationMs,
    maxBatch: config.maxBatch,
    firstId: Math.min(vocabSize - 1, 1000),
    vocabSize,
  });
}

// The catalog as selection reads it: points most accurate first (ties: fewer FLOPs at their own tokens first,
// then the id).
function selectionTable(
  points: readonly ServedPoint[],
  latency: LatencyModel,
  config: ServingConfig,
): SelectionTable {
  const order = points
    .map((p) => p.index)
    .sort(
      (a, b) =>
        knownAccuracy(points[b]!.entry) - knownAccuracy(points[a]!.entry) ||
        points[a]!.cost.flops(1, points[a]!.entry.tokens) -
          points[b]!.cost.flops(1, points[b]!.entry.tokens) ||
        (points[a]!.id < points[b]!.id ? -1 : points[a]!.id > points[b]!.id ? 1 : 0),
    );
  return {
    order,
    accuracy: points.map((p) => knownAccuracy(p.entry)),
    tokens: points.map((p) => p.entry.tokens),
    costs: points.map((p) => p.cost),
    latency,
    tieTolerance: config.accuracyTieTolerance,
    noBudgetBacklogMs: config.noBudgetBacklogMs,
    loadTrade: config.loadTrade,
  };
}
