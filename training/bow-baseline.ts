import { Confusion } from './confusion.ts';
import type { EncodedExample } from './data/batcher.ts';

// The honest reference: logistic regression on hashed unigram and bigram counts of the same wordpieces the
// model reads (head and tail kept at the same token budget), trained with AdaGrad.
export interface BowResult {
  tokens: number;
  devAccuracy: number;
  devMacroF1: number;
  testAccuracy: number;
  testMacroF1: number;
}

const BUCKETS = 1 << 20;

function features(pieces: Int32Array, tokens: number): Map<number, number> {
  const budget = tokens - 2;
  const head = Math.ceil(budget / 2);
  const kept =
    pieces.length <= budget
      ? pieces
      : Int32Array.from([...pieces.subarray(0, head), ...pieces.subarray(pieces.length - (budget - head))]);
  const counts = new Map<number, number>();
  const add = (h: number) => counts.set(h, (counts.get(h) ?? 0) + 1);
  for (let i = 0; i < kept.length; i++) {
    add(Math.imul(kept[i]!, 0x9e3779b1) >>> 12);
    if (i + 1 < kept.length)
      add((Math.imul(kept[i]!, 0x85ebca6b) ^ Math.imul(kept[i + 1]!, 0xc2b2ae35)) >>> 12);
  }
  // Log-scaled counts, L2-normalized.
  let norm = 0;
  for (const [k, v] of counts) {
    const w = 1 + Math.log(v);
    counts.set(k, w);
    norm += w * w;
  }
  norm = Math.sqrt(norm) || 1;
  for (const [k, v] of counts) counts.set(k, v / norm);
  return counts;
}

// A trained regression: each label's probability for an example's features, into `out` [labels].
type Predict = (features: ReadonlyMap<number, number>, out: Float64Array) => void;

// Logistic regression with AdaGrad on the examples' features (`trainFeatures[i]` for `examples[i]`), `epochs`
// passes in order: binary (one weight per feature) for two labels, multinomial (softmax, a weight per feature
// and label) for more.
function fitBow(
  examples: readonly EncodedExample[],
  trainFeatures: ReadonlyArray<ReadonlyMap<number, number>>,
  epochs: number,
  labels: number,
): Predict {
  if (labels === 2) return fitBinary(examples, trainFeatures, epochs);
  const weights = new Float32Array(BUCKETS * labels);
  const squares = new Float32Array(BUCKETS * labels).fill(1e-8);
  const bias = new Float64Array(labels);
  const rate = 0.5;
  const l2 = 1e-6;
  const p = new Float64Array(labels);
  const scores = (f: ReadonlyMap<number, number>, out: Float64Array) => {
    out.set(bias);
    for (const [k, v] of f) for (let c = 0; c < labels; c++) out[c]! += weights[k * labels + c]! * v;
    let max = -Infinity;
    for (let c = 0; c < labels; c++) max = Math.max(max, out[c]!);
    let sum = 0;
    for (let c = 0; c < labels; c++) sum += out[c] = Math.exp(out[c]! - max);
    for (let c = 0; c < labels; c++) out[c]! /= sum;
  };
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = 0; i < examples.length; i++) {
      const f = trainFeatures[i]!;
      scores(f, p);
      p[examples[i]!.label]! -= 1;
      for (const [k, v] of f) {
        for (let c = 0; c < labels; c++) {
          const w = k * labels + c;
          const grad = p[c]! * v + l2 * weights[w]!;
          squares[w]! += grad * grad;
          weights[w]! -= (rate * grad) / Math.sqrt(squares[w]!);
        }
      }
      for (let c = 0; c < labels; c++) bias[c]! -= 0.01 * p[c]!;
    }
  }
  return scores;
}

function fitBinary(
  examples: readonly EncodedExample[],
  trainFeatures: ReadonlyArray<ReadonlyMap<number, number>>,
  epochs: number,
): Predict {
  const weights = new Float32Array(BUCKETS);
  const squares = new Float32Array(BUCKETS).fill(1e-8);
  let bias = 0;
  const rate = 0.5;
  const l2 = 1e-6;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = 0; i < examples.length; i++) {
      const f = trainFeatures[i]!;
      let z = bias;
      for (const [k, v] of f) z += weights[k]! * v;
      const g = 1 / (1 + Math.exp(-z)) - examples[i]!.label;
      for (const [k, v] of f) {
        const grad = g * v + l2 * weights[k]!;
        squares[k]! += grad * grad;
        weights[k]! -= (rate * grad) / Math.sqrt(squares[k]!);
      }
      bias -= 0.01 * g;
    }
  }
  return (f, out) => {
    let z = bias;
    for (const [k, v] of f) z += weights[k]! * v;
    const positive = 1 / (1 + Math.exp(-z));
    out[0] = 1 - positive;
    out[1] = positive;
  };
}

// Trains on `train` at each token budget and reports dev and test accuracy and macro-F1.
export function bowBaseline(
  train: readonly EncodedExample[],
  dev: readonly EncodedExample[],
  test: readonly EncodedExample[],
  tokenChoices: readonly number[],
  labels: number,
  epochs = 4,
): BowResult[] {
  return tokenChoices.map((tokens) => {
    const predict = fitBow(
      train,
      train.map((e) => features(e.pieces, tokens)),
      epochs,
      labels,
    );
    const p = new Float64Array(labels);
    const score = (examples: readonly EncodedExample[]) => {
      const confusion = new Confusion(labels);
      for (const e of examples) {
        predict(features(e.pieces, tokens), p);
        let best = 0;
        for (let c = 1; c < labels; c++) if (p[c]! > p[best]!) best = c;
        confusion.add(e.label, best);
      }
      return confusion;
    };
    const onDev = score(dev);
    const onTest = score(test);
    return {
      tokens,
      devAccuracy: onDev.accuracy(),
      devMacroF1: onDev.macroF1(),
      testAccuracy: onTest.accuracy(),
      testMacroF1: onTest.macroF1(),
    };
  });
}

// Cross-fitted probabilities of every label for every example, [examples * labels]: the examples are dealt into
// `folds` folds by index, and each fold is scored by a regression trained on the others, so no example's
// probabilities come from a model that saw its label. Features are computed once, for all folds. `onFold`
// reports progress.
export function crossFitBow(
  examples: readonly EncodedExample[],
  tokens: number,
  folds: number,
  epochs: number,
  labels: number,
  onFold?: (done: number) => void,
): Float32Array {
  const out = new Float32Array(examples.length * labels);
  const p = new Float64Array(labels);
  const all = examples.map((e) => features(e.pieces, tokens));
  const outOf = (fold: number) => (_: unknown, i: number) => i % folds !== fold;
  for (let fold = 0; fold < folds; fold++) {
    const predict = fitBow(examples.filter(outOf(fold)), all.filter(outOf(fold)), epochs, labels);
    for (let i = fold; i < examples.length; i += folds) {
      predict(all[i]!, p);
      out.set(p, i * labels);
    }
    onFold?.(fold + 1);
  }
  return out;
}
