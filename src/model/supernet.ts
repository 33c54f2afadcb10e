import * as tf from '@tensorflow/tfjs-core';
import { ModelError } from '../errors.ts';
import { assertSubnetFits, encoderForm, type SubnetConfig, type SupernetConfig } from './config.ts';
import { type EncoderOptions, type EncoderOutput, type EncoderParams, encode } from './encoder.ts';
import { Rng } from './random.ts';
import { type TokenBatch, validateTokenBatch } from './token-batch.ts';
import { checkWeights, type WeightSource } from './weight-checks.ts';
import { supernetWeightLayout, supernetWeightName } from './weight-layout.ts';
import type { WeightTensor } from './weights.ts';

const INIT_STDDEV = 0.02;

// The elastic encoder: weights stored at their largest shapes; a subnet is a prefix slice of them, chosen per
// call (`apply(ids, mask, subnet)`), never stored on the model, so concurrent calls cannot race.
export class Supernet {
  readonly config: SupernetConfig;
  private readonly weights: Map<string, tf.Tensor>;
  private disposed = false;

  private constructor(config: SupernetConfig, weights: Map<string, tf.Tensor>) {
    this.config = config;
    this.weights = weights;
  }

  // Fresh weights: normal(0, 0.02) kernels and embeddings, zero biases, unit LayerNorm gains (BERT's init).
  static create(config: SupernetConfig, options: { seed?: number; trainable?: boolean } = {}): Supernet {
    const rng = new Rng(options.seed ?? 0);
    const host = supernetWeightLayout(config).map((spec): WeightTensor => {
      const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
      if (spec.init === 'ones') data.fill(1);
      else if (spec.init === 'normal')
        for (let i = 0; i < data.length; i++) data[i] = rng.normal() * INIT_STDDEV;
      return { name: spec.name, shape: spec.shape, data };
    });
    return Supernet.fromWeights(config, host, options);
  }

  // Loads weights (e.g. from an artifact), checking that every expected tensor is there with its shape.
  static fromWeights(
    config: SupernetConfig,
    source: WeightSource,
    options: { trainable?: boolean } = {},
  ): Supernet {
    const layout = supernetWeightLayout(config);
    const host = checkWeights(layout, source, 'supernet');
    const tensors = new Map<string, tf.Tensor>();
    for (const spec of layout) {
      const w = host.get(spec.name)!;
      const t = tf.tensor(w.data, spec.shape, 'float32');
      tensors.set(spec.name, options.trainable ? tf.variable(t, true) : t);
      if (options.trainable) t.dispose();
    }
    return new Supernet(config, tensors);
  }

  // Trainable variables in the layout's fixed order (optimizers match their state by position).
  variables(): tf.Variable[] {
    return supernetWeightLayout(this.config).map((spec) => {
      const t = this.get(spec.name);
      if (!(t instanceof tf.Variable)) {
        throw new ModelError('INVALID_INPUT', 'this supernet was not created with trainable: true');
      }
      return t;
    });
  }

  // The parameters of one subnet, as slices of the supernet's tensors. Call inside tf.tidy.
  paramsFor(subnet: SubnetConfig): EncoderParams {
    assertSubnetFits(this.config, subnet);
    return buildEncoderParams(this.config, subnet, (name, shape) => {
      const full = this.get(supernetWeightName(subnet, name));
      return shapesEqual(full.shape, shape)
        ? full
        : tf.slice(
            full,
            shape.map(() => 0),
            shape,
          );
    });
  }

  // The forward pass of one subnet. ids int32 [batch, tokens], mask float32 [batch, tokens]. Call in tf.tidy.
  apply(ids: tf.Tensor2D, mask: tf.Tensor2D, subnet: SubnetConfig, options?: EncoderOptions): EncoderOutput {
    this.assertLive();
    return encode(this.paramsFor(subnet), ids, mask, options);
  }

  // Validated, leak-free inference on host arrays: logits [batch * labels], row-major.
  predict(batch: TokenBatch, subnet: SubnetConfig): Float32Array {
    this.assertLive();
    assertSubnetFits(this.config, subnet);
    return runOnBatch(
      this.config,
      batch,
      (ids, mask, typeIds) => this.apply(ids, mask, subnet, typeIds && { typeIds }).logits,
    );
  }

  // Host copies of every weight, in layout order (for checkpoints and publishing).
  readWeights(): WeightTensor[] {
    this.assertLive();
    return supernetWeightLayout(this.config).map((spec) => ({
      name: spec.name,
      shape: spec.shape,
      data: new Float32Array(this.get(spec.name).dataSync() as Float32Array),
    }));
  }

  // Replaces weights in place (rewiring, checkpoint restore). Shapes must match.
  assignWeights(source: WeightSource): void {
    this.assertLive();
    const host = checkWeights(supernetWeightLayout(this.config), source, 'supernet');
    for (const [name, w] of host) {
      const current = this.get(name);
      const next = tf.tensor(w.data, w.shape, 'float32');
      if (current instanceof tf.Variable) {
        current.assign(next);
        next.dispose();
      } else {
        current.dispose();
        this.weights.set(name, next);
      }
    }
  }

  // The tensor behind a weight name (full shape).
  get(name: string): tf.Tensor {
    const t = this.weights.get(name);
    if (!t) throw new ModelError('MISSING_WEIGHT', `supernet has no weight '${name}'`);
    return t;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.weights.values()) t.dispose();
    this.weights.clear();
  }

  private assertLive(): void {
    if (this.disposed) throw new ModelError('INVALID_INPUT', 'this supernet has been disposed');
  }
}

// Assembles encoder parameters from tensors named in the subnet's layout (its k-th layer is `layers.{k}`).
export function buildEncoderParams(
  config: SupernetConfig,
  subnet: SubnetConfig,
  get: (name: string, shape: number[]) => tf.Tensor,
): EncoderParams {
  const h = config.hiddenSize;
  const dense = (name: string, inSize: number, outSize: number) => ({
    kernel: get(`${name}.kernel`, [inSize, outSize]) as tf.Tensor2D,
    bias: get(`${name}.bias`, [outSize]) as tf.Tensor1D,
  });
  const norm = (name: string) => ({
    gamma: get(`${name}.gamma`, [h]) as tf.Tensor1D,
    beta: get(`${name}.beta`, [h]) as tf.Tensor1D,
  });
  return {
    headSize: config.headSize,
    layerNormEps: config.layerNormEps,
    tokenEmbedding: get('embeddings.token', [config.vocabSize, h]) as tf.Tensor2D,
    positionEmbedding: get('embeddings.position', [config.maxTokens, h]) as tf.Tensor2D,
    ...(config.typeVocabSize !== undefined && {
      typeEmbedding: get('embeddings.type', [config.typeVocabSize, h]) as tf.Tensor2D,
    }),
    embeddingNorm: norm('embeddings.norm'),
    layers: subnet.layers.map((l, k) => {
      const p = `layers.${k}`;
      const attention = l.heads * config.headSize;
      return {
        heads: l.heads,
        attentionNorm: norm(`${p}.attention.norm`),
        query: dense(`${p}.attention.query`, h, attention),
        key: dense(`${p}.attention.key`, h, attention),
        value: dense(`${p}.attention.value`, h, attention),
        attentionOutput: dense(`${p}.attention.output`, attention, h),
        ffnNorm: norm(`${p}.ffn.norm`),
        ffnInput: dense(`${p}.ffn.input`, h, l.ffn),
        ffnOutput: dense(`${p}.ffn.output`, l.ffn, h),
      };
    }),
    ...(encoderForm(config) === 'pre-ln' && { finalNorm: norm('final.norm') }),
    form: encoderForm(config),
    pooler: dense('pooler', h, h),
    classifier: dense('classifier', h, config.numLabels),
  };
}

// Validates a host batch, runs `forward` inside tf.tidy and returns the logits on the host.
export function runOnBatch(
  config: SupernetConfig,
  batch: TokenBatch,
  forward: (ids: tf.Tensor2D, mask: tf.Tensor2D, typeIds: tf.Tensor2D | undefined) => tf.Tensor2D,
): Float32Array {
  validateTokenBatch(batch, config);
  const shape: [number, number] = [batch.batch, batch.tokens];
  const logits = tf.tidy(() => {
    const ids = tf.tensor2d(batch.ids, shape, 'int32');
    const mask = tf.cast(tf.tensor2d(batch.mask, shape, 'int32'), 'float32') as tf.Tensor2D;
    const typeIds = batch.typeIds && tf.tensor2d(batch.typeIds, shape, 'int32');
    return forward(ids, mask, typeIds);
  });
  const values = logits.dataSync() as Float32Array;
  logits.dispose();
  return values;
}

function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
