import type { BackendPreference } from '../src/backend/select-backend.ts';
import type { GraphForm } from '../src/engine/build-onnx-graph.ts';
import { CacheBudget } from '../src/engine/cache-budget.ts';
import type { Engine } from '../src/engine/engine.ts';
import { OnnxEngine } from '../src/engine/onnx-engine.ts';
import { SubnetCache } from '../src/engine/subnet-cache.ts';
import type { SupernetConfig } from '../src/model/config.ts';
import type { TokenBatch } from '../src/model/token-batch.ts';
import type { WeightSource } from '../src/model/weight-checks.ts';
import type { ServedSubnet } from './served-point.ts';

// The engine every model on a thread shares, its settings, and the byte budget all their resident subnets share.
export interface EngineSettings {
  engine: 'onnx' | 'tfjs';
  tfjsBackend: BackendPreference;
  onnxThreads: number;
  onnxGraph: GraphForm;
  cacheBytes: number;
}

// What one model runs: its supernet's architecture and the catalog's distinct subnets, each in a precision (by
// index).
export interface ModelSpec {
  config: SupernetConfig;
  subnets: ServedSubnet[];
}

// What an engine holds, for leak checks and /metrics.
export interface ExecutorStats {
  engine: 'onnx' | 'tfjs';
  // ONNX sessions created so far, and how their graphs are written (onnx engine).
  sessionsCreated: number | undefined;
  graph: GraphForm | undefined;
  // Live tfjs tensors (tfjs engine).
  tensors: number | undefined;
  residentSubnets: number;
  cacheMisses: number;
}

// One engine and one subnet-cache budget for every model a thread runs (a worker thread or, in-process, the main
// thread).
export class EngineRuntime {
  readonly engine: Engine;
  readonly budget: CacheBudget;
  private readonly tensorCount: (() => number) | undefined;

  private constructor(engine: Engine, budget: CacheBudget, tensorCount: (() => number) | undefined) {
    this.engine = engine;
    this.budget = budget;
    this.tensorCount = tensorCount;
  }

  static async create(settings: EngineSettings): Promise<EngineRuntime> {
    const budget = new CacheBudget(settings.cacheBytes);
    if (settings.engine === 'onnx') {
      const engine = new OnnxEngine({ intraOpThreads: settings.onnxThreads, graphForm: settings.onnxGraph });
      return new EngineRuntime(engine, budget, undefined);
    }
    // Loaded only when asked for: the onnx path never pays for tfjs.
    const { TfjsEngine } = await import('../src/engine/tfjs-engine.ts');
    const tf = await import('@tensorflow/tfjs-core');
    const engine = await TfjsEngine.create(settings.tfjsBackend);
    return new EngineRuntime(engine, budget, () => tf.memory().numTensors);
  }

  // What the engine holds, with the caches of these executors.
  stats(executors: Iterable<SubnetExecutor>): ExecutorStats {
    let residentSubnets = 0;
    let cacheMisses = 0;
    for (const executor of executors) {
      const cache = executor.cacheStats();
      residentSubnets += cache.residentSubnets;
      cacheMisses += cache.misses;
    }
    return {
      engine: this.engine.name,
      sessionsCreated: this.engine instanceof OnnxEngine ? this.engine.sessionsCreated : undefined,
      graph: this.engine instanceof OnnxEngine ? this.engine.graphForm : undefined,
      tensors: this.tensorCount?.(),
      residentSubnets,
      cacheMisses,
    };
  }
}

// One model's catalog subnets on an engine runtime, resident in a cache that shares the runtime's byte budget.
// Subnets are materialized at creation so that the first request pays no load.
export class SubnetExecutor {
  private readonly cache: SubnetCache;
  private readonly subnets: readonly ServedSubnet[];

  private constructor(cache: SubnetCache, subnets: readonly ServedSubnet[]) {
    this.cache = cache;
    this.subnets = subnets;
  }

  static async create(
    runtime: EngineRuntime,
    spec: ModelSpec,
    weights: WeightSource,
  ): Promise<SubnetExecutor> {
    const cache = new SubnetCache({
      engine: runtime.engine,
      config: spec.config,
      supernetWeights: weights,
      budget: runtime.budget,
    });
    try {
      for (const { subnet, precision } of spec.subnets) (await cache.acquire(subnet, precision)).release();
    } catch (error) {
      await cache.dispose().catch(() => {});
      throw error;
    }
    return new SubnetExecutor(cache, spec.subnets);
  }

  // Logits [batch * labels] of one batch on the subnet with this index.
  run(subnetIndex: number, batch: TokenBatch): Promise<Float32Array> {
    const served = this.subnets[subnetIndex];
    if (served === undefined) throw new RangeError(`no subnet ${subnetIndex}`);
    return this.cache.run(served.subnet, batch, served.precision);
  }

  cacheStats(): ReturnType<SubnetCache['stats']> {
    return this.cache.stats();
  }

  dispose(): Promise<void> {
    return this.cache.dispose();
  }
}
