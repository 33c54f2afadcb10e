// How a row of logits becomes label scores (transformers' `function_to_apply`): `none` keeps the raw logits.
export type ScoreFunction = 'softmax' | 'sigmoid' | 'none';

// One label and its score.
export interface LabelScore {
  label: string;
  score: number;
}

// The default of transformers' text-classification pipeline and of TEI: sigmoid for a single label (a score),
// softmax over two or more.
export function defaultScoreFunction(labels: number): ScoreFunction {
  return labels === 1 ? 'sigmoid' : 'softmax';
}

// Row `row` of logits [inputs, labels] as label scores, highest first (ties keep the labels' order), at most
// `topK` of them (undefined: every label).
export function rankLabels(
  logits: ArrayLike<number>,
  row: number,
  labels: readonly string[],
  fn: ScoreFunction,
  topK?: number,
): LabelScore[] {
  const n = labels.length;
  const values = new Array<number>(n);
  for (let j = 0; j < n; j++) values[j] = logits[row * n + j]!;
  if (fn === 'softmax') {
    const max = Math.max(...values);
    let sum = 0;
    for (let j = 0; j < n; j++) {
      values[j] = Math.exp(values[j]! - max);
      sum += values[j]!;
    }
    for (let j = 0; j < n; j++) values[j] = values[j]! / sum;
  } else if (fn === 'sigmoid') {
    for (let j = 0; j < n; j++) values[j] = 1 / (1 + Math.exp(-values[j]!));
  }
  const ranked = labels.map((label, j) => ({ label, score: values[j]! }));
  ranked.sort((a, b) => b.score - a.score);
  return topK === undefined ? ranked : ranked.slice(0, topK);
}
