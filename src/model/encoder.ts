import * as tf from '@tensorflow/tfjs-core';
import { ModelError } from '../errors.ts';
import type { EncoderForm } from './config.ts';

// The forward pass of a BERT-style encoder over explicit parameters, in either form (`params.form`): pre-LayerNorm
// with mean pooling, or BERT's own post-LayerNorm with the pooler on [CLS]. The supernet passes slices of its
// full-size weights; a materialized subnet passes its own. One function, so both agree.

export interface DenseParams {
  kernel: tf.Tensor2D; // [in, out]
  bias: tf.Tensor1D; // [out]
}

export interface NormParams {
  gamma: tf.Tensor1D; // [hidden]
  beta: tf.Tensor1D; // [hidden]
}

export interface LayerParams {
  heads: number;
  attentionNorm: NormParams;
  query: DenseParams; // [hidden, heads * headSize]
  key: DenseParams;
  value: DenseParams;
  attentionOutput: DenseParams; // [heads * headSize, hidden]
  ffnNorm: NormParams;
  ffnInput: DenseParams; // [hidden, ffn]
  ffnOutput: DenseParams; // [ffn, hidden]
}

export interface EncoderParams {
  headSize: number;
  layerNormEps: number;
  tokenEmbedding: tf.Tensor2D; // [vocab, hidden]
  positionEmbedding: tf.Tensor2D; // [maxTokens, hidden]
  // Pair models only.
  typeEmbedding?: tf.Tensor2D; // [types, hidden]
  embeddingNorm: NormParams;
  layers: LayerParams[];
  // pre-ln only: the BERT form has no final LayerNorm.
  finalNorm?: NormParams;
  form: EncoderForm;
  pooler: DenseParams; // [hidden, hidden]
  classifier: DenseParams; // [hidden, labels]
}

export interface EncoderOutput {
  logits: tf.Tensor2D; // [batch, labels]
  // The residual stream after the embeddings and after each layer, when asked for (distillation).
  hidden?: tf.Tensor2D[]; // each [batch * tokens, hidden]
  // Every token's final state, after the final LayerNorm, when asked for (masked-LM pretraining).
  sequence?: tf.Tensor2D; // [batch * tokens, hidden]
}

export interface EncoderOptions {
  // Token types, int32 [batch, tokens]: 0 on [CLS], the first text and its [SEP], 1 on the second text and its
  // [SEP]. Only for a model with type embeddings; absent there, every token is type 0.
  typeIds?: tf.Tensor2D;
  returnHidden?: boolean;
  returnSequence?: boolean;
  // Multipliers on each layer's heads [heads] and FFN neurons [ffn], all ones in effect: the gradient of the
  // loss with respect to them scores each unit's importance (rewiring).
  gates?: Array<{ heads: tf.Tensor1D; neurons: tf.Tensor1D }>;
}

const MASKED_SCORE = -1e9;

// ids: int32 [batch, tokens]; mask: float32 [batch, tokens], 1 on real tokens. Call inside tf.tidy.
export function encode(
  params: EncoderParams,
  ids: tf.Tensor2D,
  mask: tf.Tensor2D,
  options: EncoderOptions = {},
): EncoderOutput {
  const [batch, tokens] = ids.shape;
  const hiddenSize = params.tokenEmbedding.shape[1];

  const positions = tf.slice(params.positionEmbedding, [0, 0], [tokens, hiddenSize]); // [tokens, hidden]
  let embedded = tf.add(tf.gather(params.tokenEmbedding, ids), positions); // [batch, tokens, hidden]
  if (params.typeEmbedding) {
    const types = options.typeIds
      ? tf.gather(params.typeEmbedding, options.typeIds) // [batch, tokens, hidden]
      : tf.slice(params.typeEmbedding, [0, 0], [1, hiddenSize]); // [1, hidden]
    embedded = tf.add(embedded, types);
  } else if (options.typeIds) {
    throw new ModelError('INVALID_INPUT', 'token types given to a model without type embeddings');
  }
  let x = layerNorm(
    tf.reshape(embedded, [batch * tokens, hiddenSize]),
    params.embeddingNorm,
    params.layerNormEps,
  );
  const hidden: tf.Tensor2D[] = options.returnHidden ? [x] : [];

  // Additive attention bias: 0 on real tokens, a large negative number on padding.
  const maskBias = tf.reshape(tf.mul(tf.sub(1, mask), MASKED_SCORE), [batch, 1, 1, tokens]);

  const bert = params.form === 'bert';
  params.layers.forEach((layer, k) => {
    const gate = options.gates?.[k];
    let attended = attention(
      bert ? x : layerNorm(x, layer.attentionNorm, params.layerNormEps),
      layer,
      maskBias,
      batch,
      tokens,
      params.headSize,
    ); // [batch * tokens, heads * headSize]
    if (gate) {
      const perColumn = tf.reshape(
        tf.tile(tf.reshape(gate.heads, [layer.heads, 1]), [1, params.headSize]),
        [-1],
      );
      attended = tf.mul(attended, perColumn);
    }
    if (bert) {
      // Post-LayerNorm: normalize after each residual add; exact GELU.
      x = layerNorm(
        tf.add(x, dense(attended, layer.attentionOutput)),
        layer.attentionNorm,
        params.layerNormEps,
      );
      let inner = geluExact(dense(x, layer.ffnInput)); // [batch * tokens, ffn]
      if (gate) inner = tf.mul(inner, gate.neurons);
      x = layerNorm(tf.add(x, dense(inner, layer.ffnOutput)), layer.ffnNorm, params.layerNormEps);
    } else {
      x = tf.add(x, dense(attended, layer.attentionOutput)); // [batch * tokens, hidden]
      let inner = gelu(dense(layerNorm(x, layer.ffnNorm, params.layerNormEps), layer.ffnInput)); // [b*t, ffn]
      if (gate) inner = tf.mul(inner, gate.neurons);
      x = tf.add(x, dense(inner, layer.ffnOutput)); // [batch * tokens, hidden]
    }
    if (options.returnHidden) hidden.push(x);
  });

  let sequence: tf.Tensor2D; // [batch * tokens, hidden]
  let pooled: tf.Tensor2D; // [batch, hidden]
  if (bert) {
    sequence = x;
    // The hidden state of [CLS], the first token of every row.
    pooled = tf.reshape(
      tf.slice(tf.reshape(x, [batch, tokens, hiddenSize]), [0, 0, 0], [batch, 1, hiddenSize]),
      [batch, hiddenSize],
    );
  } else {
    if (!params.finalNorm)
      throw new ModelError('MISSING_WEIGHT', 'a pre-ln encoder needs its final LayerNorm');
    sequence = layerNorm(x, params.finalNorm, params.layerNormEps);
    const normed = tf.reshape(sequence, [batch, tokens, hiddenSize]);
    // Mean over real tokens.
    const weights = tf.reshape(mask, [batch, tokens, 1]);
    pooled = tf.div(tf.sum(tf.mul(normed, weights), 1), tf.sum(weights, 1)) as tf.Tensor2D;
  }
  const logits = dense(tf.tanh(dense(pooled, params.pooler)), params.classifier); // [batch, labels]
  return {
    logits,
    ...(options.returnHidden && { hidden }),
    ...(options.returnSequence && { sequence }),
  };
}

// Multi-head self-attention over pre-normed x [batch * tokens, hidden] -> [batch * tokens, heads * headSize].
function attention(
  x: tf.Tensor2D,
  layer: LayerParams,
  maskBias: tf.Tensor,
  batch: number,
  tokens: number,
  headSize: number,
): tf.Tensor2D {
  const heads = layer.heads;
  const split = (t: tf.Tensor2D) =>
    tf.reshape(tf.transpose(tf.reshape(t, [batch, tokens, heads, headSize]), [0, 2, 1, 3]), [
      batch * heads,
      tokens,
      headSize,
    ]) as tf.Tensor3D; // [batch * heads, tokens, headSize]
  const q = split(dense(x, layer.query));
  const k = split(dense(x, layer.key));
  const v = split(dense(x, layer.value));
  const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(headSize)); // [b * heads, tokens, tokens]
  const masked = tf.add(tf.reshape(scores, [batch, heads, tokens, tokens]), maskBias);
  const probs = tf.reshape(tf.softmax(masked), [batch * heads, tokens, tokens]) as tf.Tensor3D;
  const context = tf.matMul(probs, v); // [batch * heads, tokens, headSize]
  return tf.reshape(tf.transpose(tf.reshape(context, [batch, heads, tokens, headSize]), [0, 2, 1, 3]), [
    batch * tokens,
    heads * headSize,
  ]);
}

// x [n, in] @ kernel [in, out] + bias. The gradient uses explicit transposes and plain 2-D matmuls: the wasm
// backend's fast matmul path takes no transpose flags (NOTES.md: a 6x faster training step).
const denseOp = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, kernel, bias, save] = args as unknown as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, kernel]);
  return {
    value: tf.add(tf.matMul(x, kernel), bias),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor2D;
      const [sx, sk] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(g, tf.transpose(sk)), tf.matMul(tf.transpose(sx), g), tf.sum(g, 0)];
    },
  };
}) as unknown as (x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D) => tf.Tensor2D;

export function dense(x: tf.Tensor2D, params: DenseParams): tf.Tensor2D {
  return denseOp(x, params.kernel, params.bias);
}

// LayerNorm over the last axis of x [n, hidden].
export function layerNorm(x: tf.Tensor2D, params: NormParams, eps: number): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, params.gamma), params.beta);
}

const GELU_C = Math.sqrt(2 / Math.PI);

// GELU, tanh approximation (as ONNX Gelu approximate='tanh'; ~2.6x cheaper than erf on wasm).
export function gelu(x: tf.Tensor2D): tf.Tensor2D {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), GELU_C);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

// GELU, exact: x * Phi(x) with the normal CDF from erf (BERT's `gelu`).
export function geluExact(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}
