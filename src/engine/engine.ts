import type { Precision, SubnetConfig, SupernetConfig } from '../model/config.ts';
import type { TokenBatch } from '../model/token-batch.ts';
import type { WeightSource } from '../model/weight-checks.ts';

// The runtimes a subnet can run on.
export type EngineName = 'onnx' | 'tfjs';
export const ENGINE_NAMES: readonly EngineName[] = ['onnx', 'tfjs'];

// One subnet materialized on an engine: loaded once, run many times, disposed once.
export interface LoadedSubnet {
  readonly engine: EngineName;
  readonly subnet: SubnetConfig;
  readonly precision: Precision;
  // The subnet's canonical id in its precision (formatSubnetPrecisionId: `-int8` for int8).
  readonly id: string;
  // Bytes the engine holds for it: its weights (activations are transient and not counted).
  readonly memoryBytes: number;
  // Logits [batch * labels], row-major. Throws INVALID_INPUT (ModelError) before the runtime sees a bad batch.
  run(batch: TokenBatch): Promise<Float32Array>;
  // Frees what the engine holds; later runs throw SUBNET_DISPOSED. Idempotent.
  dispose(): Promise<void>;
}

// A runtime that materializes subnets from host weights in the subnet's own layout (sliceSubnetWeights), in a
// precision (default fp32; int8 quantizes the float weights given).
export interface Engine {
  readonly name: EngineName;
  // The bytes load() will hold for this subnet (its LoadedSubnet's memoryBytes), known before loading it.
  residentBytes(config: SupernetConfig, subnet: SubnetConfig, precision: Precision): number;
  load(
    config: SupernetConfig,
    subnet: SubnetConfig,
    weights: WeightSource,
    precision?: Precision,
  ): Promise<LoadedSubnet>;
}
