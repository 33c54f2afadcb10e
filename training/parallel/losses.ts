import * as tf from '@tensorflow/tfjs-core';
import type { SubnetConfig } from '../../src/model/config.ts';

// How one step's loss is made: hard labels, the teacher's soft logits, the teacher's hidden states.
export interface LossSpec {
  hardWeight: number;
  labelSmoothing: number;
  softWeight: number;
  temperature: number;
  hiddenWeight: number;
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
