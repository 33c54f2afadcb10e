import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { readHfCheckpoint } from '../../../src/checkpoint/hf-checkpoint.ts';
import { OnnxEngine } from '../../../src/engine/onnx-engine.ts';
import { TfjsEngine } from '../../../src/engine/tfjs-engine.ts';
import { countParams } from '../../../src/model/accounting.ts';
import { largestSubnet, type SupernetConfig } from '../../../src/model/config.ts';
import { Rng } from '../../../src/model/random.ts';
import { sliceSubnetWeights } from '../../../src/model/slice-subnet-weights.ts';
import type { TokenBatch } from '../../../src/model/token-batch.ts';
import { subnetWeightLayout } from '../../../src/model/weight-layout.ts';
import type { WeightTensor } from '../../../src/model/weights.ts';
import { FileStore } from '../../../src/storage/file-store.ts';
import { BERT_TINY, bertTinyReference } from '../../helpers/bert-tiny.ts';
import { maxAbsDiff, randomPairBatch, randomSubnet } from '../../helpers/tiny-model.ts';

const TOLERANCE = 1e-4;

// The reference cases as one padded batch, with their token types.
function referenceBatch(cases: Awaited<ReturnType<typeof bertTinyReference>>): TokenBatch {
  const tokens = Math.max(...cases.map((c) => c.ids.length));
  const batch: TokenBatch = {
    batch: cases.length,
    tokens,
    ids: new Int32Array(cases.length * tokens),
    mask: new Int32Array(cases.length * tokens),
    typeIds: new Int32Array(cases.length * tokens),
  };
  cases.forEach((c, r) => {
    batch.ids.set(c.ids, r * tokens);
    batch.typeIds!.set(c.types, r * tokens);
    batch.mask.fill(1, r * tokens, r * tokens + c.ids.length);
  });
  return batch;
}

describe('the BERT form', () => {
  let config: SupernetConfig;
  let weights: WeightTensor[];
  let tfjs: TfjsEngine;
  const onnx = new OnnxEngine();

  before(async () => {
    const checkpoint = await readHfCheckpoint(new FileStore(BERT_TINY));
    config = { ...checkpoint.architecture, form: 'bert' };
    weights = checkpoint.weights;
    tfjs = await TfjsEngine.create('wasm');
  });

  it('has no final LayerNorm, and counts the parameters PyTorch has', () => {
    const names = subnetWeightLayout(config, largestSubnet(config)).map((s) => s.name);
    assert.equal(names.includes('final.norm.gamma'), false);
    assert.ok(names.includes('embeddings.type'));
    // 23,907: what scripts/make-bert-reference.py printed for the same model.
    assert.equal(countParams(config, largestSubnet(config)), 23907);
  });

  for (const engine of ['tfjs', 'onnx'] as const) {
    it(`computes the checkpoint's own logits with the ${engine} engine, singles and pairs, within 1e-4`, async () => {
      const cases = await bertTinyReference();
      const subnet = largestSubnet(config);
      const loaded = await (engine === 'tfjs' ? tfjs : onnx).load(
        config,
        subnet,
        sliceSubnetWeights(config, weights, subnet),
      );
      const logits = await loaded.run(referenceBatch(cases));
      const expected = cases.flatMap((c) => c.logits);
      assert.ok(maxAbsDiff(logits, expected) < TOLERANCE, `max difference ${maxAbsDiff(logits, expected)}`);
      // Not a constant: the reference logits differ between inputs by far more than the tolerance.
      assert.ok(Math.max(...expected) - Math.min(...expected) > 1);
      await loaded.dispose();
    });
  }

  it('gives the same logits on both engines for random subnets of the BERT form', async () => {
    const rng = new Rng(7);
    for (let i = 0; i < 10; i++) {
      const subnet = randomSubnet(config, rng);
      const sliced = sliceSubnetWeights(config, weights, subnet);
      const [a, b] = [await onnx.load(config, subnet, sliced), await tfjs.load(config, subnet, sliced)];
      const batch = randomPairBatch(config, rng, 1 + rng.int(4), 4 + rng.int(20));
      const diff = maxAbsDiff(await a.run(batch), await b.run(batch));
      assert.ok(diff < TOLERANCE, `subnet ${a.id}: ${diff}`);
      await a.dispose();
      await b.dispose();
    }
  });
});
