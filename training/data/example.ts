// One labelled input of a text-classification task: a text, or a pair of texts (premise and hypothesis,
// question and answer), and the index of its label in the task's label names.
export interface LabelledText {
  text: string;
  // Present for a pair task only.
  textPair?: string;
  label: number;
}

// A labelled input after cleaning; `key` is the salted hash that places it in a split and orders it there.
export interface Example extends LabelledText {
  key: string;
}

export interface SplitCounts {
  train: number;
  dev: number;
  test: number;
}

export interface Splits {
  train: Example[];
  dev: Example[];
  test: Example[];
  // What cleaning did, for the manifest's provenance.
  stats: SplitCounts & { raw: number; duplicates: number; conflicting: number };
}
