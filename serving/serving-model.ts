import { hostname } from 'node:os';
import type { CatalogEntry, Manifest } from '../src/artifact/manifest.ts';
import type { LoadedSupernet } from '../src/artifact/read-supernet.ts';
import { ArtifactError } from '../src/errors.ts';
import { assertSubnetFits, formatSubnetId, type SubnetConfig } from '../src/model/config.ts';
import { checkWeights } from '../src/model/weight-checks.ts';
import { supernetWeightLayout } from '../src/model/weight-layout.ts';
import type { WeightTensor } from '../src/model/weights.ts';
import { Vocabulary } from '../src/tokenizer/vocabulary.ts';
import { WordPieceTokenizer } from '../src/tokenizer/word-piece-tokenizer.ts';
import { type CalibrationResult, calibrateLatency } from './calibrate-latency.ts';
import type { ServingConfig } from './config.ts';
import { CostTable } from './cost-table.ts';
import { createInferencePool, type InferencePool, type WorkerSpares } from './inference-pool.ts';
import { LatencyModel } from './latency-model.ts';
import { type BatchReport, Scheduler } from './scheduler.ts';
import type { SelectionTable } from './select-operating-point.ts';
import type { ExecutorSpec } from './subnet-executor.ts';

// One catalog operating point, with what serving precomputes for it.
export interface ServedPoint {
  index: number;
  id: string;
  entry: CatalogEntry;
  subnetId: string;
  // Index into the pool's distinct subnets.
  subnetIndex: number;
  cost: CostTable;
}

// How a ServingModel is built: the pool factory can be replaced (tests hold calls in flight with it).
export interface ServingModelOptions {
  config: ServingConfig;
  createPool?: (
    spec: ExecutorSpec,
    weights: ReadonlyMap<string, WeightTensor>,
    workers: number,
    spares?: WorkerSpares,
  ) => Promise<InferencePool>;
  // Worker threads started ahead (while the artifact was read).
  spares?: WorkerSpares;
  onBatch?: (model: ServingModel, report: BatchReport) => void;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

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
    latency: LatencyModel;
    pool: InferencePool;
    calibration: ServingModel['calibration'];
    config: ServingConfig;
    onBatch?: (report: BatchReport) => void;
  }) {
    const { manifest, points, latency, pool } = fields;
    this.manifest = manifest;
    this.name = manifest.model;
    this.version = manifest.version;
    this.labels = manifest.labels;
    this.tokenizer = fields.tokenizer;
    this.points = points;
    this.latency = latency;
    this.pool = pool;
    this.calibration = fields.calibration;
    this.loadedAt = new Date();
    const order = points
      .map((p) => p.index)
      .sort(
        (a, b) =>
          knownAccuracy(points[b]!.entry) - knownAccuracy(points[a]!.entry) ||
          points[a]!.cost.flops(1, points[a]!.entry.tokens) -
            points[b]!.cost.flops(1, points[b]!.entry.tokens) ||
          (points[a]!.id < points[b]!.id ? -1 : points[a]!.id > points[b]!.id ? 1 : 0),
      );
    this.table = {
      order,
      accuracy: points.map((p) => knownAccuracy(p.entry)),
      tokens: points.map((p) => p.entry.tokens),
      costs: points.map((p) => p.cost),
      latency,
      tieTolerance: fields.config.accuracyTieTolerance,
      noBudgetBacklogMs: fields.config.noBudgetBacklogMs,
      loadTrade: fields.config.loadTrade,
    };
    // Operating point ids, and bare subnet ids (naming that subnet's most accurate point).
    const byId = new Map<string, number>();
    for (const index of [...order].reverse()) byId.set(points[index]!.subnetId, index);
    for (const p of points) byId.set(p.id, p.index);
    this.byId = byId;
    const truncation = manifest.tokenizer.truncation;
    this.scheduler = new Scheduler({
      pool,
      latency,
      subnetOfPoint: points.map((p) => p.subnetIndex),
      pack: (point, pieces, rowTokens) =>
        this.tokenizer.packPieces(
          pieces,
          { maxTokens: this.points[point]!.entry.tokens, truncation },
          rowTokens,
        ),
      numLabels: manifest.architecture.numLabels,
      maxBatch: fields.config.maxBatch,
      maxBatchMs: fields.config.maxBatchMs,
      maxQueue: fields.config.maxQueue,
      ...(fields.onBatch ? { onBatch: fields.onBatch } : {}),
    });
  }

  // Verifies a read supernet beyond its checksums (catalog, tokenizer, weight layout), materializes the catalog's
  // subnets on the pool, calibrates latency on this host, and returns the model ready to serve.
  static async create(supernet: LoadedSupernet, options: ServingModelOptions): Promise<ServingModel> {
    const { config } = options;
    const { manifest, weights } = supernet;
    const arch = manifest.architecture;
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
    const vocabulary = Vocabulary.parse(supernet.vocabText);
    if (vocabulary.size !== manifest.tokenizer.vocabSize) {
      throw new ArtifactError(
        'INVALID_ARTIFACT',
        `${where}: vocab.txt has ${vocabulary.size} tokens, the manifest says ${manifest.tokenizer.vocabSize}`,
      );
    }
    checkWeights(supernetWeightLayout(arch), weights, `${where} weights`);
    const tokenizer = new WordPieceTokenizer(vocabulary, {
      lowercase: manifest.tokenizer.lowercase,
      stripAccents: manifest.tokenizer.stripAccents,
    });

    const subnets: SubnetConfig[] = [];
    const subnetIndex = new Map<string, number>();
    const points = manifest.catalog.map((entry, index): ServedPoint => {
      assertSubnetFits(arch, entry.subnet);
      const subnetId = formatSubnetId(entry.subnet);
      if (!subnetIndex.has(subnetId)) {
        subnetIndex.set(subnetId, subnets.length);
        subnets.push(entry.subnet);
      }
      return {
        index,
        id: entry.id,
        entry,
        subnetId,
        subnetIndex: subnetIndex.get(subnetId)!,
        cost: new CostTable(arch, entry.subnet),
      };
    });

    const spec: ExecutorSpec = {
      engine: config.engine,
      tfjsBackend: config.tfjsBackend,
      onnxThreads: config.onnxThreads,
      cacheBytes: config.engineCacheBytes,
      config: arch,
      subnets,
    };
    const started = performance.now();
    const pool = await (options.createPool ?? createInferencePool)(
      spec,
      weights,
      config.inferenceWorkers,
      options.spares,
    );
    options.log?.('subnets materialized', {
      subnets: subnets.length,
      engine: config.engine,
      workers: config.inferenceWorkers,
      ms: Math.round(performance.now() - started),
    });
    try {
      const calibration = await calibrateLatency({
        points: points.map((p) => ({ subnetIndex: p.subnetIndex, tokens: p.entry.tokens, cost: p.cost })),
        run: async (slot, subnet, batch) => {
          const t0 = performance.now();
          await pool.run(slot, subnet, batch);
          return performance.now() - t0;
        },
        slots: pool.slots,
        budgetMs: config.calibrationMs,
        maxBatch: config.maxBatch,
        firstId: Math.min(vocabulary.size - 1, 1000),
        vocabSize: vocabulary.size,
      });
      const latency = new LatencyModel(
        points.map((p) => p.cost),
        calibration.fits,
        config.latencyEwmaAlpha,
        { targetQuantile: config.latencyTargetQuantile, groups: points.map((p) => p.subnetIndex) },
      );
      let model: ServingModel | undefined;
      model = new ServingModel({
        manifest,
        tokenizer,
        points,
        latency,
        pool,
        calibration: { ...calibration, host: hostname(), engine: config.engine, workers: pool.slots },
        config,
        onBatch: (report) => {
          if (model) options.onBatch?.(model, report);
        },
      });
      return model;
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
    this.retired ??= this.scheduler.whenIdle().then(() => this.pool.dispose());
    return this.retired;
  }
}

// A point's dev accuracy for ranking and for accuracy floors: an unknown accuracy (an imported checkpoint
// published without labelled data) counts as 0, so it never meets a floor it cannot be shown to meet.
export function knownAccuracy(entry: Pick<CatalogEntry, 'devAccuracy'>): number {
  return entry.devAccuracy ?? 0;
}
