import type { EncodedExample } from './data/batcher.ts';

// The honest reference: logistic regression on hashed unigram and bigram counts of the same wordpieces the
// model reads (head and tail kept at the same token budget), trained with AdaGrad.
export interface BowResult {
  tokens: number;
  devAccuracy: number;
  testAccuracy: number;
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

// A trained logistic regression: the log-odds of label 1 for an example's features.
type LogOdds = (features: ReadonlyMap<number, number>) => number;

// Logistic regression with AdaGrad on the examples' features (`trainFeatures[i]` for `examples[i]`), `epochs`
// passes in order.
function fitBow(
  examples: readonly EncodedExample[],
  trainFeatures: ReadonlyArray<ReadonlyMap<number, number>>,
  epochs: number,
): LogOdds {
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
  return (f) => {
    let z = bias;
    for (const [k, v] of f) z += weights[k]! * v;
    return z;
  };
}

// Trains on `train` at each token budget and reports dev and test accuracy.
export function bowBaseline(
  train: readonly EncodedExample[],
  dev: readonly EncodedExample[],
  test: readonly EncodedExample[],
  tokenChoices: readonly number[],
  epochs = 4,
): BowResult[] {
  return tokenChoices.map((tokens) => {
    const logOdds = fitBow(
      train,
      train.map((e) => features(e.pieces, tokens)),
      epochs,
    );
    const accuracy = (examples: readonly EncodedExample[]) => {
      let correct = 0;
      for (const e of examples) if ((logOdds(features(e.pieces, tokens)) > 0 ? 1 : 0) === e.label) correct++;
      return correct / Math.max(1, examples.length);
    };
    return { tokens, devAccuracy: accuracy(dev), testAccuracy: accuracy(test) };
  });
}

// Cross-fitted probabilities of both labels for every example, [examples * 2]: the examples are dealt into
// `folds` folds by index, and each fold is scored by a regression trained on the others, so no example's
// probabilities come from a model that saw its label. Features are computed once, for all folds. `onFold`
// reports progress.
export function crossFitBow(
  examples: readonly EncodedExample[],
  tokens: number,
  folds: number,
  epochs: number,
  onFold?: (done: number) => void,
): Float32Array {
  const out = new Float32Array(examples.length * 2);
  const all = examples.map((e) => features(e.pieces, tokens));
  const outOf = (fold: number) => (_: unknown, i: number) => i % folds !== fold;
  for (let fold = 0; fold < folds; fold++) {
    const logOdds = fitBow(examples.filter(outOf(fold)), all.filter(outOf(fold)), epochs);
    for (let i = fold; i < examples.length; i += folds) {
      const positive = 1 / (1 + Math.exp(-logOdds(all[i]!)));
      out[i * 2] = 1 - positive;
      out[i * 2 + 1] = positive;
    }
    onFold?.(fold + 1);
  }
  return out;
}
