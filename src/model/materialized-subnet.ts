import * as tf from '@tensorflow/tfjs-core';
import { ModelError } from '../errors.ts';
import { assertSubnetFits, formatSubnetId, type SubnetConfig, type SupernetConfig } from './config.ts';
import { type EncoderOptions, type EncoderOutput, type EncoderParams, encode } from './encoder.ts';
import { buildEncoderParams, runOnBatch, type Supernet } from './supernet.ts';
import type { TokenBatch } from './token-batch.ts';
import { checkWeights, type WeightSource } from './weight-checks.ts';
import { subnetWeightLayout, supernetWeightName } from './weight-layout.ts';
import type { WeightTensor } from './weights.ts';

// One subnet as a static model with its own (smaller) weights: serving materializes it once and reuses it.
export class MaterializedSubnet {
  readonly config: SupernetConfig;
  readonly subnet: SubnetConfig;
  readonly id: string;
  private readonly tensors: Map<string, tf.Tensor>;
  private readonly params: EncoderParams;
  private disposed = false;

  private constructor(config: SupernetConfig, subnet: SubnetConfig, tensors: Map<string, tf.Tensor>) {
    this.config = config;
    this.subnet = subnet;
    this.id = formatSubnetId(subnet);
    this.tensors = tensors;
    this.params = buildEncoderParams(config, subnet, (name) => tensors.get(name)!);
  }

  // From host weights in the subnet's own layout (see sliceSubnetWeights).
  static fromWeights(config: SupernetConfig, subnet: SubnetConfig, source: WeightSource): MaterializedSubnet {
    assertSubnetFits(config, subnet);
    const layout = subnetWeightLayout(config, subnet);
    const host = checkWeights(layout, source, `subnet ${formatSubnetId(subnet)}`);
    const tensors = new Map<string, tf.Tensor>();
    for (const spec of layout)
      tensors.set(spec.name, tf.tensor(host.get(spec.name)!.data, spec.shape, 'float32'));
    return new MaterializedSubnet(config, subnet, tensors);
  }

  // Copies the subnet's slices out of a live supernet (on the tfjs backend, no host round trip).
  static extract(supernet: Supernet, subnet: SubnetConfig): MaterializedSubnet {
    assertSubnetFits(supernet.config, subnet);
    const tensors = new Map<string, tf.Tensor>();
    for (const spec of subnetWeightLayout(supernet.config, subnet)) {
      const full = supernet.get(supernetWeightName(subnet, spec.name));
      // Always an own copy, even when the slice is the whole tensor.
      tensors.set(
        spec.name,
        tf.tidy(() =>
          tf.clone(
            tf.slice(
              full,
              spec.shape.map(() => 0),
              spec.shape,
            ),
          ),
        ),
      );
    }
    return new MaterializedSubnet(supernet.config, subnet, tensors);
  }

  // The forward pass. Call inside tf.tidy.
  apply(ids: tf.Tensor2D, mask: tf.Tensor2D, options?: EncoderOptions): EncoderOutput {
    if (this.disposed) throw new ModelError('INVALID_INPUT', `subnet ${this.id} has been disposed`);
    return encode(this.params, ids, mask, options);
  }

  // Validated, leak-free inference on host arrays: logits [batch * labels], row-major.
  predict(batch: TokenBatch): Float32Array {
    return runOnBatch(
      this.config,
      batch,
      (ids, mask, typeIds) => this.apply(ids, mask, typeIds && { typeIds }).logits,
    );
  }

  // Host copies of its weights, in the subnet layout's order.
  readWeights(): WeightTensor[] {
    return subnetWeightLayout(this.config, this.subnet).map((spec) => ({
      name: spec.name,
      shape: spec.shape,
      data: new Float32Array(this.tensors.get(spec.name)!.dataSync() as Float32Array),
    }));
  }

  // Bytes of its weights on the backend.
  get weightBytes(): number {
    let bytes = 0;
    for (const t of this.tensors.values()) bytes += t.size * 4;
    return bytes;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}

// Materializes one subnet of a supernet as a smaller static model; its outputs equal the supernet's for it.
export function extractSubnet(supernet: Supernet, subnet: SubnetConfig): MaterializedSubnet {
  return MaterializedSubnet.extract(supernet, subnet);
}
