import type { Engine } from '../src/engine/index.ts';
import { type OperatingPoint, pointPrecision, type SupernetConfig } from '../src/model/config.ts';
import { sliceSubnetWeights } from '../src/model/slice-subnet-weights.ts';
import type { WeightSource } from '../src/model/weight-checks.ts';
import type { Truncation, WordPieceTokenizer } from '../src/tokenizer/index.ts';
import { Confusion } from './confusion.ts';
import { type EncodedExample, pack } from './data/batcher.ts';
import { argmax } from './run-stage.ts';

// Measures operating points of one supernet on the fast inference engine: accuracy on labelled examples and
// latency of one long review.
export class PointEvaluator {
  constructor(
    private readonly config: SupernetConfig,
    private readonly weights: WeightSource,
    private readonly engine: Engine,
    private readonly tokenizer: WordPieceTokenizer,
    private readonly truncation: Truncation,
  ) {}

  // Fraction of examples whose argmax logit is their label.
  async accuracy(
    point: OperatingPoint,
    examples: readonly EncodedExample[],
    batchSize = 32,
  ): Promise<number> {
    return (await this.confusion(point, examples, batchSize)).accuracy();
  }

  // Accuracy and macro-F1 over the examples.
  async scores(
    point: OperatingPoint,
    examples: readonly EncodedExample[],
  ): Promise<{ accuracy: number; macroF1: number }> {
    const confusion = await this.confusion(point, examples);
    return { accuracy: confusion.accuracy(), macroF1: confusion.macroF1() };
  }

  // The (label, argmax logit) counts over the examples.
  async confusion(
    point: OperatingPoint,
    examples: readonly EncodedExample[],
    batchSize = 32,
  ): Promise<Confusion> {
    const loaded = await this.engine.load(
      this.config,
      point.subnet,
      sliceSubnetWeights(this.config, this.weights, point.subnet),
      pointPrecision(point),
    );
    try {
      const labels = this.config.numLabels;
      const confusion = new Confusion(labels);
      for (let i = 0; i < examples.length; i += batchSize) {
        const rows = examples.slice(i, i + batchSize);
        const { batch, labels: truth } = pack(this.tokenizer, rows, point.tokens, this.truncation);
        const logits = await loaded.run(batch);
        for (let r = 0; r < rows.length; r++) confusion.add(truth[r]!, argmax(logits, r * labels, labels));
      }
      return confusion;
    } finally {
      await loaded.dispose();
    }
  }

  // Median latency (ms) of one call on one review of at least `point.tokens` tokens, batch 1.
  async latencyMs(point: OperatingPoint, review: EncodedExample, runs = 30): Promise<number> {
    const loaded = await this.engine.load(
      this.config,
      point.subnet,
      sliceSubnetWeights(this.config, this.weights, point.subnet),
      pointPrecision(point),
    );
    try {
      const { batch } = pack(this.tokenizer, [review], point.tokens, this.truncation);
      for (let i = 0; i < 3; i++) await loaded.run(batch);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await loaded.run(batch);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      return times[Math.floor(times.length / 2)]!;
    } finally {
      await loaded.dispose();
    }
  }
}
