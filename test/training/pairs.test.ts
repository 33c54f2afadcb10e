import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { imdbPairs } from '../../scripts/make-imdb-pairs.ts';
import { selectBackend } from '../../src/backend/select-backend.ts';
import { OnnxEngine } from '../../src/engine/onnx-engine.ts';
import { largestSubnet, type SupernetConfig } from '../../src/model/config.ts';
import { Rng } from '../../src/model/random.ts';
import { sliceSubnetWeights } from '../../src/model/slice-subnet-weights.ts';
import { Supernet } from '../../src/model/supernet.ts';
import { loadBertUncasedVocabulary, WordPieceTokenizer } from '../../src/tokenizer/index.ts';
import { type EncodedExample, pack } from '../../training/data/batcher.ts';
import { PointEvaluator } from '../../training/evaluate.ts';
import { FlatLayout } from '../../training/flat-params.ts';
import { GradientPool } from '../../training/parallel/gradient-pool.ts';
import { maxAbsDiff } from '../helpers/tiny-model.ts';

// Training on a sentence-pair task built from real text: pairs of IMDB review openings labelled by whether their
// sentiments agree. Training packs them as serving does, its workers read the token types, and the search
// measures each operating point with the same packing.

const CONFIG: SupernetConfig = {
  vocabSize: 30522,
  hiddenSize: 16,
  maxTokens: 64,
  maxLayers: 2,
  maxHeads: 2,
  headSize: 8,
  maxFfn: 32,
  numLabels: 2,
  typeVocabSize: 2,
  layerNormEps: 1e-5,
};
const LABELS = ['agree', 'disagree'];

describe('training on text pairs (IMDB review openings: do their sentiments agree?)', () => {
  const tokenizer = new WordPieceTokenizer(loadBertUncasedVocabulary());
  const layout = new FlatLayout(CONFIG);
  let pairs: ReturnType<typeof imdbPairs>['train'];
  let examples: EncodedExample[];
  let params: Float32Array;
  let pool: GradientPool;

  before(async () => {
    await selectBackend('wasm');
    pairs = imdbPairs({ train: 24, dev: 1, test: 1, words: 16, seed: 5 }).train;
    examples = pairs.map((p) => ({
      pieces: tokenizer.encode(p.text),
      pairPieces: tokenizer.encode(p.text_pair),
      label: LABELS.indexOf(p.label),
    }));
    const supernet = Supernet.create(CONFIG, { seed: 3 });
    params = new Float32Array(layout.total);
    layout.fill(params, supernet.readWeights());
    supernet.dispose();
    // Weights of order 1, so that a wrong token type shows in the logits.
    const rng = new Rng(9);
    for (let i = 0; i < params.length; i++) params[i] = params[i]! * 25 + rng.normal() * 0.01;
    pool = await GradientPool.start(CONFIG, 2, 'wasm', params);
  });
  after(() => pool?.close());

  it('packs an example pair exactly as the serving tokenizer encodes the texts', () => {
    for (const tokens of [16, 32, 64]) {
      const { batch, labels } = pack(tokenizer, examples, tokens, 'head-tail');
      const direct = tokenizer.encodeBatch(
        pairs.map((p) => ({ text: p.text, textPair: p.text_pair })),
        { maxTokens: tokens, truncation: 'head-tail' },
      );
      assert.deepEqual(batch.ids, direct.ids);
      assert.deepEqual(batch.typeIds, direct.typeIds);
      assert.deepEqual(batch.mask, direct.mask);
      assert.deepEqual(
        Array.from(labels),
        examples.map((e) => e.label),
      );
    }
    assert.ok(pairs.some((p) => p.label === 'agree') && pairs.some((p) => p.label === 'disagree'));
  });

  it('runs the gradient workers on the token types: their logits are the model read here, types included', async () => {
    const { batch, labels } = pack(tokenizer, examples, 48, 'head-tail');
    const [logits] = await pool.predict(batch, [largestSubnet(CONFIG)]);
    const local = Supernet.fromWeights(CONFIG, layout.toWeights(params));
    assert.ok(maxAbsDiff(logits!, local.predict(batch, largestSubnet(CONFIG))) < 1e-5);
    const { typeIds: _, ...untyped } = batch;
    assert.ok(maxAbsDiff(logits!, local.predict(untyped, largestSubnet(CONFIG))) > 1e-3, 'types matter');
    local.dispose();
    const stats = await pool.step(batch, labels, [largestSubnet(CONFIG)], {
      hardWeight: 1,
      labelSmoothing: 0,
      softWeight: 0,
      temperature: 1,
      hiddenWeight: 0,
    });
    assert.ok(Number.isFinite(stats.loss));
    const typeTable = layout.view(
      pool.grads,
      layout.specs.findIndex((s) => s.name === 'embeddings.type'),
    );
    const hidden = CONFIG.hiddenSize;
    assert.ok(
      typeTable.subarray(0, hidden).some((g) => g !== 0),
      'type 0 gets a gradient',
    );
    assert.ok(
      typeTable.subarray(hidden).some((g) => g !== 0),
      'type 1 gets a gradient',
    );
  });

  it("measures an operating point's accuracy on pairs as the model reads them", async () => {
    const engine = new OnnxEngine();
    const weights = layout.toWeights(params);
    const evaluator = new PointEvaluator(CONFIG, weights, engine, tokenizer, 'head-tail');
    const subnet = { layers: [{ layer: 1, heads: 1, ffn: 16 }] };
    for (const tokens of [24, 64]) {
      const accuracy = await evaluator.accuracy({ subnet, tokens }, examples, 5);
      const loaded = await engine.load(CONFIG, subnet, sliceSubnetWeights(CONFIG, weights, subnet));
      const logits = await loaded.run(
        tokenizer.encodeBatch(
          pairs.map((p) => ({ text: p.text, textPair: p.text_pair })),
          { maxTokens: tokens, truncation: 'head-tail' },
        ),
      );
      await loaded.dispose();
      const correct = examples.filter(
        (e, r) => (logits[2 * r]! >= logits[2 * r + 1]! ? 0 : 1) === e.label,
      ).length;
      assert.equal(accuracy, correct / examples.length, `at ${tokens} tokens`);
    }
  });
});
