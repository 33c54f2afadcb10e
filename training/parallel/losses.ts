import * as tf from '@tensorflow/tfjs-core';
import type { SubnetConfig } from '../../src/model/config.ts';

// How one step's loss is made: hard labels, the teacher's soft logits, the teacher's hidden states.
export interface LossSpec {
  hardWeight: number;
  labelSmoothing: number;
  softWeight: number;
  temperature: number;
  hiddenWeight: number;
  // Share of the label target taken from the rows' priors, when a step has them (0: the one-hot labels alone).
  priorWeight?: number;
}

// Cross-entropy on labels with optional smoothing; logits [batch, labels], labels one-hot [batch, labels].
export function hardLoss(logits: tf.Tensor2D, oneHot: tf.Tensor2D, smoothing: number): tf.Scalar {
  const classes = logits.shape[1];
  const targets = smoothing > 0 ? tf.add(tf.mul(oneHot, 1 - smoothing), smoothing / classes) : oneHot;
  return tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

// Soft cross-entropy against the teacher's distribution at temperature T, scaled by T^2 (Hinton et al.).
export function softLoss(logits: tf.Tensor2D, teacherLogits: tf.Tensor2D, temperature: number): tf.Scalar {
  const targets = tf.softmax(tf.div(teacherLogits, temperature));
  const logProbs = tf.logSoftmax(tf.div(logits, temperature));
  return tf.mul(tf.neg(tf.mean(tf.sum(tf.mul(targets, logProbs), 1))), temperature * temperature);
}

// Relative MSE between a student's hidden states and the teacher's at the same depth, over real tokens:
// sum(mask (s - t)^2) / sum(mask t^2), so that layers of different scale weigh alike.
export function hiddenLoss(
  student: tf.Tensor2D[],
  teacher: tf.Tensor2D[],
  subnet: SubnetConfig,
  rowMask: tf.Tensor2D,
): tf.Scalar {
  // Student state 0 is the embeddings; state k (k >= 1) follows supernet layer subnet.layers[k-1].layer.
  const pairs: Array<[tf.Tensor2D, tf.Tensor2D]> = [
    [student[0]!, teacher[0]!],
    ...subnet.layers.map((l, k): [tf.Tensor2D, tf.Tensor2D] => [student[k + 1]!, teacher[l.layer + 1]!]),
  ];
  const terms = pairs.map(([s, t]) => {
    const diff = tf.sum(tf.mul(tf.square(tf.sub(s, t)), rowMask));
    const scale = tf.add(tf.sum(tf.mul(tf.square(t), rowMask)), 1e-6);
    return tf.div(diff, scale);
  });
  return tf.div(tf.addN(terms), pairs.length) as tf.Scalar;
}

// states [m, hidden] @ embedding [vocab, hidden]^T -> [m, vocab]. Every matmul is plain 2-D and every transpose
// is of a [hidden, *] or [*, hidden] matrix, never of the [m, vocab] gradient: wasm's fast matmul takes no
// transpose flags (NOTES.md), and tfjs's own matmul gradient uses them.
const tiedProjection = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [states, embedding, save] = args as unknown as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([states, embedding]);
  return {
    value: tf.matMul(states, tf.transpose(embedding)),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor2D; // [m, vocab]
      const [s, e] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(g, e), tf.transpose(tf.matMul(tf.transpose(s), g))];
    },
  };
}) as unknown as (states: tf.Tensor2D, embedding: tf.Tensor2D) => tf.Tensor2D;

// Below this probability the target's log-probability is clipped: float32 softmax underflows to 0 near 1e-38.
const MIN_PROBABILITY = 1e-30;

// Mean softmax cross-entropy of logits [m, n] against target indices [m]. The gradient, (softmax - one-hot) / m,
// reuses the forward's softmax: wasm's fused softmax is ~4x cheaper than log-sum-exp (its exp is slow), and
// tfjs's log-sum-exp gradient goes through the gradient of max, a broadcast `equal` (~0.7 s at [150, 30522]).
function softmaxCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  const [m, n] = logits.shape;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, save] = args as unknown as [tf.Tensor2D, tf.GradSaveFunc];
    const probs = tf.softmax(x); // [m, n]
    save([probs]);
    const flat = tf.add(tf.range(0, m * n, n, 'int32'), targets); // [m], row * n + target
    const picked = tf.gather(tf.reshape(probs, [-1]), flat); // [m]
    return {
      value: tf.neg(tf.mean(tf.log(tf.maximum(picked, MIN_PROBABILITY)))),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        tf.mul(tf.sub(saved[0]!, tf.oneHot(targets, n)), tf.div(dy as tf.Tensor, m)),
    };
  }) as unknown as (x: tf.Tensor2D) => tf.Scalar;
  return op(logits);
}

// Masked-LM cross-entropy over the masked tokens only: their final states are gathered first, then scored against
// every token through the tied token embeddings (no output weights of their own). sequence [batch * tokens,
// hidden], positions [m] (row * tokens + position), targets [m] (the original ids). Also returns the predictions.
export function maskedLmLoss(
  sequence: tf.Tensor2D,
  tokenEmbedding: tf.Tensor2D,
  positions: tf.Tensor1D,
  targets: tf.Tensor1D,
): { loss: tf.Scalar; predicted: tf.Tensor1D } {
  const states = tf.gather(sequence, positions) as tf.Tensor2D; // [m, hidden]
  const logits = tiedProjection(states, tokenEmbedding); // [m, vocab]
  return { loss: softmaxCrossEntropy(logits, targets), predicted: tf.argMax(logits, 1) as tf.Tensor1D };
}
