import type { BackendPreference } from '../src/backend/select-backend.ts';
import type { Engine } from '../src/engine/engine.ts';
import { OnnxEngine } from '../src/engine/onnx-engine.ts';
import { SubnetCache } from '../src/engine/subnet-cache.ts';
import type { SupernetConfig } from '../src/model/config.ts';
import type { TokenBatch } from '../src/model/token-batch.ts';
import type { WeightSource } from '../src/model/weight-checks.ts';
import type { ServedSubnet } from './served-point.ts';

// What an executor runs: the engine, its settings, and the catalog's distinct subnets, each in a precision (by
// index).
export interface ExecutorSpec {
  engine: 'onnx' | 'tfjs';
  tfjsBackend: BackendPreference;
  onnxThreads: number;
  cacheBytes: number;
  config: SupernetConfig;
  subnets: ServedSubnet[];
}

// What an executor holds, for leak checks and /metrics.
export interface ExecutorStats {
  engine: 'onnx' | 'tfjs';
  // ONNX sessions created so far (onnx engine).
  sessionsCreated: number | undefined;
  // Live tfjs tensors (tfjs engine).
  tensors: number | undefined;
  residentSubnets: number;
  cacheMisses: number;
}

// One engine with the catalog's subnets resident in a byte-bounded cache: what a worker thread (or, in-process,
// the main thread) runs. Subnets are materialized at creation so that the first request pays no load.
export class SubnetExecutor {
  private readonly engine: Engine;
  private readonly cache: SubnetCache;
  private readonly subnets: readonly ServedSubnet[];
  private readonly tensorCount: (() => number) | undefined;

  private constructor(
    engine: Engine,
    cache: SubnetCache,
    subnets: readonly ServedSubnet[],
    tensorCount: (() => number) | undefined,
  ) {
    this.engine = engine;
    this.cache = cache;
    this.subnets = subnets;
    this.tensorCount = tensorCount;
  }

  static async create(spec: ExecutorSpec, weights: WeightSource): Promise<SubnetExecutor> {
    let engine: Engine;
    let tensorCount: (() => number) | undefined;
    if (spec.engine === 'onnx') {
      engine = new OnnxEngine({ intraOpThreads: spec.onnxThreads });
    } else {
      // Loaded only when asked for: the onnx path never pays for tfjs.
      const { TfjsEngine } = await import('../src/engine/tfjs-engine.ts');
      const tf = await import('@tensorflow/tfjs-core');
      engine = await TfjsEngine.create(spec.tfjsBackend);
      tensorCount = () => tf.memory().numTensors;
    }
    const cache = new SubnetCache({
      engine,
      config: spec.config,
      supernetWeights: weights,
      budgetBytes: spec.cacheBytes,
    });
    const executor = new SubnetExecutor(engine, cache, spec.subnets, tensorCount);
    try {
      for (const { subnet, precision } of spec.subnets) (await cache.acquire(subnet, precision)).release();
    } catch (error) {
      await cache.dispose().catch(() => {});
      throw error;
    }
    return executor;
  }

  // Logits [batch * labels] of one batch on the subnet with this index.
  run(subnetIndex: number, batch: TokenBatch): Promise<Float32Array> {
    const served = this.subnets[subnetIndex];
    if (served === undefined) throw new RangeError(`no subnet ${subnetIndex}`);
    return this.cache.run(served.subnet, batch, served.precision);
  }

  stats(): ExecutorStats {
    const cache = this.cache.stats();
    return {
      engine: this.engine.name,
      sessionsCreated: this.engine instanceof OnnxEngine ? this.engine.sessionsCreated : undefined,
      tensors: this.tensorCount?.(),
      residentSubnets: cache.residentSubnets,
      cacheMisses: cache.misses,
    };
  }

  dispose(): Promise<void> {
    return this.cache.dispose();
  }
}
