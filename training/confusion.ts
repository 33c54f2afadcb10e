// Counts of (true label, predicted label) over examples: accuracy, and macro-F1 (the mean over labels of each
// label's F1, which an imbalanced task needs: a model that never predicts a small label scores 0 on it).
export class Confusion {
  private readonly counts: Float64Array;

  constructor(readonly labels: number) {
    this.counts = new Float64Array(labels * labels);
  }

  add(truth: number, predicted: number): void {
    this.counts[truth * this.labels + predicted]!++;
  }

  get total(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  accuracy(): number {
    let correct = 0;
    for (let c = 0; c < this.labels; c++) correct += this.counts[c * this.labels + c]!;
    return correct / Math.max(1, this.total);
  }

  // A label with no true and no predicted example is left out of the mean; one predicted but never true, or
  // true but never predicted, has F1 0.
  macroF1(): number {
    let sum = 0;
    let present = 0;
    for (let c = 0; c < this.labels; c++) {
      let truth = 0;
      let predicted = 0;
      for (let k = 0; k < this.labels; k++) {
        truth += this.counts[c * this.labels + k]!;
        predicted += this.counts[k * this.labels + c]!;
      }
      if (truth + predicted === 0) continue;
      present++;
      sum += (2 * this.counts[c * this.labels + c]!) / (truth + predicted);
    }
    return present === 0 ? 0 : sum / present;
  }
}
