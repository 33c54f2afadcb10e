import * as tf from '@tensorflow/tfjs-core';
import { type BackendChoice, type BackendPreference, selectBackend } from '../backend/select-backend.ts';
import { EngineError, isSupernetError } from '../errors.ts';
import { countWeightBytes } from '../model/accounting.ts';
import {
  formatSubnetPrecisionId,
  type Precision,
  type SubnetConfig,
  type SupernetConfig,
} from '../model/config.ts';
import { MaterializedSubnet } from '../model/materialized-subnet.ts';
import { fakeQuantizeWeights } from '../model/quantize.ts';
import type { TokenBatch } from '../model/token-batch.ts';
import type { WeightSource } from '../model/weight-checks.ts';
import type { Engine, LoadedSubnet } from './engine.ts';

// Runs subnets with TensorFlow.js on the active backend (tfjs-node-gpu on GPU hosts, wasm on CPU hosts). tfjs has
// no int8 matmul: an int8 subnet is simulated, running float32 with its kernels quantized and dequantized, so it
// answers as the onnx engine's int8 subnet does up to activation rounding, and holds float32 weights.
export class TfjsEngine implements Engine {
  readonly name = 'tfjs';
  // The tfjs backend subnets are loaded on (tf.getBackend() at construction).
  readonly backend: string;
  // How the backend was chosen, when this engine chose it.
  readonly choice: BackendChoice | undefined;

  constructor(choice?: BackendChoice) {
    this.backend = tf.getBackend();
    this.choice = choice;
  }

  // Selects a backend first (selectBackend's order for 'auto': node-gpu, node, wasm, cpu).
  static async create(
    preference: BackendPreference = 'auto',
    log?: (message: string) => void,
  ): Promise<TfjsEngine> {
    return new TfjsEngine(await selectBackend(preference, log));
  }

  // Every weight in float32, int8 subnets too (simulated).
  residentBytes(config: SupernetConfig, subnet: SubnetConfig): number {
    return countWeightBytes(config, subnet, 'fp32');
  }

  async load(
    config: SupernetConfig,
    subnet: SubnetConfig,
    weights: WeightSource,
    precision: Precision = 'fp32',
  ): Promise<LoadedSubnet> {
    if (tf.getBackend() !== this.backend) {
      throw new EngineError(
        'ENGINE_UNAVAILABLE',
        `tfjs engine was created on backend '${this.backend}', the active backend is now '${tf.getBackend()}'`,
      );
    }
    const used = precision === 'int8' ? fakeQuantizeWeights(weights) : weights;
    return new TfjsSubnet(
      guard(`tfjs: loading subnet`, () => MaterializedSubnet.fromWeights(config, subnet, used)),
      precision,
    );
  }
}

class TfjsSubnet implements LoadedSubnet {
  readonly engine = 'tfjs';
  readonly subnet: SubnetConfig;
  readonly precision: Precision;
  readonly id: string;
  readonly memoryBytes: number;
  private model: MaterializedSubnet | undefined;

  constructor(model: MaterializedSubnet, precision: Precision) {
    this.model = model;
    this.subnet = model.subnet;
    this.precision = precision;
    this.id = formatSubnetPrecisionId(model.subnet, precision);
    this.memoryBytes = model.weightBytes;
  }

  async run(batch: TokenBatch): Promise<Float32Array> {
    if (!this.model) throw new EngineError('SUBNET_DISPOSED', `tfjs subnet ${this.id} has been disposed`);
    // predict validates the batch (INVALID_INPUT) before any tensor is made, and leaks none.
    const model = this.model;
    return guard(`tfjs: running subnet ${this.id}`, () => model.predict(batch));
  }

  async dispose(): Promise<void> {
    this.model?.dispose();
    this.model = undefined;
  }
}

// Runs `work`, passing our named errors through and wrapping what tfjs throws as ENGINE_FAILED.
function guard<T>(what: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (isSupernetError(error)) throw error;
    throw new EngineError(
      'ENGINE_FAILED',
      `${what}: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
}
