import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import type * as Ort from 'onnxruntime-node';
import { buildOnnxGraph, type GraphForm } from '../../../src/engine/build-onnx-graph.ts';
import type { LoadedSubnet } from '../../../src/engine/engine.ts';
import { OnnxEngine } from '../../../src/engine/onnx-engine.ts';
import { TfjsEngine } from '../../../src/engine/tfjs-engine.ts';
import {
  largestSubnet,
  type Precision,
  type SubnetConfig,
  type SupernetConfig,
} from '../../../src/model/config.ts';
import { Rng } from '../../../src/model/random.ts';
import { sliceSubnetWeights } from '../../../src/model/slice-subnet-weights.ts';
import type { TokenBatch } from '../../../src/model/token-batch.ts';
import type { WeightTensor } from '../../../src/model/weights.ts';
import { DEFAULT_SHAPE, randomSupernetWeights } from '../../helpers/random-weights.ts';
import {
  maxAbsDiff,
  randomBatch,
  randomPairBatch,
  randomSubnet,
  TINY,
  TINY_PAIR,
} from '../../helpers/tiny-model.ts';

const TOLERANCE = 1e-4;
const ENCODER_FORMS = ['pre-ln', 'bert'] as const;

// The op types of a graph, `com.microsoft:` before contrib ops.
function opsOf(model: Uint8Array): string[] {
  return onnxProto.onnx.ModelProto.decode(model).graph!.node!.map((n) =>
    n.domain ? `${n.domain}:${n.opType}` : n.opType!,
  );
}

// A batch whose last row is padded to half the tokens, with token types on a pair model. The padding holds
// random ids (not the pad id): only the mask keeps them out.
function paddedBatch(config: SupernetConfig, rng: Rng, rows: number, tokens: number): TokenBatch {
  const batch =
    config.typeVocabSize === undefined
      ? randomBatch(config, rng, rows, tokens)
      : randomPairBatch(config, rng, rows, tokens);
  const width = batch.tokens;
  const last = (batch.batch - 1) * width;
  const length = Math.max(3, Math.floor(width / 2));
  assert.ok(length < width, 'the last row has padding');
  batch.mask.fill(0, last + length, last + width);
  batch.typeIds?.fill(0, last + length, last + width);
  for (let i = 0; i < batch.ids.length; i++) {
    if (batch.mask[i] === 0) batch.ids[i] = 1 + rng.int(config.vocabSize - 1);
  }
  return batch;
}

describe('ONNX graph forms', () => {
  let ort: typeof Ort;
  let tfjs: TfjsEngine;
  const plain = new OnnxEngine({ graphForm: 'plain' });
  const fused = new OnnxEngine({ graphForm: 'fused' });
  const loaded: LoadedSubnet[] = [];

  before(async () => {
    ort = await import('onnxruntime-node');
    tfjs = await TfjsEngine.create('wasm');
  });
  after(async () => {
    await Promise.all(loaded.map((l) => l.dispose()));
  });

  // The subnet on the plain and fused onnx graphs, and on tfjs, in one precision.
  async function loadThree(
    config: SupernetConfig,
    weights: WeightTensor[],
    subnet: SubnetConfig,
    precision: Precision,
  ): Promise<[LoadedSubnet, LoadedSubnet, LoadedSubnet]> {
    const sliced = sliceSubnetWeights(config, weights, subnet);
    const three = await Promise.all([
      plain.load(config, subnet, sliced, precision),
      fused.load(config, subnet, sliced, precision),
      tfjs.load(config, subnet, sliced, precision),
    ]);
    loaded.push(...three);
    return three;
  }

  it('writes standard operators only in the plain form, one contrib attention op a layer in the fused form', () => {
    const config: SupernetConfig = { ...TINY, typeVocabSize: 2 };
    const subnet: SubnetConfig = {
      layers: [
        { layer: 0, heads: 2, ffn: 8 },
        { layer: 2, heads: 1, ffn: 3 },
      ],
    };
    const sliced = sliceSubnetWeights(config, randomSupernetWeights(config, 1), subnet);
    const build = (form: GraphForm, precision: Precision) =>
      opsOf(buildOnnxGraph(config, subnet, sliced, {}, { form, precision }));
    for (const precision of ['fp32', 'int8'] as const) {
      const p = build('plain', precision);
      assert.ok(!p.some((op) => op.includes(':')), `plain ${precision}: ${p.join(' ')}`);
      assert.equal(p.filter((op) => op === 'Softmax').length, 2);
    }
    const f32 = build('fused', 'fp32');
    assert.equal(f32.filter((op) => op === 'com.microsoft:Attention').length, 2);
    assert.ok(!f32.includes('Softmax') && !f32.includes('Transpose'), f32.join(' '));
    // Only the output and FFN matmuls stay (and mean pooling's): Q, K and V are inside the attention op.
    assert.equal(f32.filter((op) => op === 'MatMul').length, 2 * 3 + 1);
    const i8 = build('fused', 'int8');
    assert.equal(i8.filter((op) => op === 'com.microsoft:QAttention').length, 2);
    assert.equal(i8.filter((op) => op === 'MatMulInteger').length, 2 * 3);
    // The default is the plain form, and the form is in the metadata.
    const model = onnxProto.onnx.ModelProto.decode(buildOnnxGraph(config, subnet, sliced));
    assert.deepEqual(
      model.metadataProps!.find((p) => p.key === 'form'),
      onnxProto.onnx.StringStringEntryProto.create({ key: 'form', value: 'plain' }),
    );
  });

  for (const form of ENCODER_FORMS) {
    for (const pair of [false, true]) {
      const name = `${form}${pair ? ', pairs' : ''}`;
      it(`gives fused fp32 logits within 1e-4 of plain and of tfjs: ${name}, random subnets, padded batches`, async () => {
        const config: SupernetConfig = { ...(pair ? TINY_PAIR : TINY), form };
        const weights = randomSupernetWeights(config, 11);
        const rng = new Rng(12);
        let largest = 0;
        let fewer = 0;
        for (let i = 0; i < 8; i++) {
          const subnet = i === 0 ? largestSubnet(config) : randomSubnet(config, rng);
          if (subnet.layers.some((l) => l.heads < config.maxHeads)) fewer++;
          const [p, f, t] = await loadThree(config, weights, subnet, 'fp32');
          const batch = paddedBatch(config, rng, 1 + rng.int(4), 4 + rng.int(config.maxTokens - 3));
          const [x, y, z] = [await p.run(batch), await f.run(batch), await t.run(batch)];
          assert.ok(maxAbsDiff(x, y) < TOLERANCE, `${f.id} fused vs plain: ${maxAbsDiff(x, y)}`);
          assert.ok(maxAbsDiff(y, z) < TOLERANCE, `${f.id} fused vs tfjs: ${maxAbsDiff(y, z)}`);
          largest = Math.max(largest, ...z.map(Math.abs));
        }
        // Logits of order 1, so that the tolerance is a real test; subnets with fewer heads than the supernet.
        assert.ok(largest > 0.5, `largest |logit| ${largest}`);
        assert.ok(fewer > 0);
      });

      it(`gives fused int8 logits within 1e-4 of plain int8: ${name}, random subnets, padded batches`, async () => {
        const config: SupernetConfig = { ...(pair ? TINY_PAIR : TINY), form };
        const weights = randomSupernetWeights(config, 13);
        const rng = new Rng(14);
        for (let i = 0; i < 6; i++) {
          const subnet = i === 0 ? largestSubnet(config) : randomSubnet(config, rng);
          const [p, f, t] = await loadThree(config, weights, subnet, 'int8');
          const batch = paddedBatch(config, rng, 2 + rng.int(3), 4 + rng.int(config.maxTokens - 3));
          const [x, y, z] = [await p.run(batch), await f.run(batch), await t.run(batch)];
          assert.ok(maxAbsDiff(x, y) < TOLERANCE, `${f.id} fused vs plain: ${maxAbsDiff(x, y)}`);
          // int8 is int8: tfjs simulates it (dequantized kernels, float inputs) to within its rounding.
          assert.ok(maxAbsDiff(y, z) < 0.05, `${f.id} fused vs tfjs: ${maxAbsDiff(y, z)}`);
        }
      });
    }
  }

  it('gives fused logits within 1e-4 of plain and tfjs at the default shape, fp32 and int8', async () => {
    for (const form of ENCODER_FORMS) {
      const config: SupernetConfig = { ...DEFAULT_SHAPE, form };
      const weights = randomSupernetWeights(config, 15);
      const rng = new Rng(16);
      const subnets: SubnetConfig[] = [
        largestSubnet(config),
        {
          layers: [
            { layer: 1, heads: 1, ffn: 300 },
            { layer: 3, heads: 3, ffn: 1024 },
          ],
        },
      ];
      for (const subnet of subnets) {
        for (const precision of ['fp32', 'int8'] as const) {
          const [p, f, t] = await loadThree(config, weights, subnet, precision);
          const batch = paddedBatch(config, rng, 3, 45);
          const [x, y] = [await p.run(batch), await f.run(batch)];
          assert.ok(maxAbsDiff(x, y) < TOLERANCE, `${form} ${f.id}: ${maxAbsDiff(x, y)}`);
          assert.ok(
            y.some((v) => Math.abs(v) > 0.1),
            'logits of order 1',
          );
          if (precision === 'fp32') {
            const z = await t.run(batch);
            assert.ok(maxAbsDiff(y, z) < TOLERANCE, `${form} ${f.id} vs tfjs: ${maxAbsDiff(y, z)}`);
          }
        }
      }
    }
  });

  it('masks padding in the fused form: a padded row gets its logits alone, and unmasking it moves them', async () => {
    const config = TINY;
    const subnet = largestSubnet(config);
    const sliced = sliceSubnetWeights(config, randomSupernetWeights(config, 17), subnet);
    const model = buildOnnxGraph(config, subnet, sliced, {}, { form: 'fused' });
    const session = await ort.InferenceSession.create(model);
    const run = async (b: TokenBatch) => {
      const shape = [b.batch, b.tokens];
      const out = await session.run({
        input_ids: new ort.Tensor('int32', b.ids, shape),
        attention_mask: new ort.Tensor('int32', b.mask, shape),
      });
      return out.logits!.data as Float32Array;
    };
    // Row 1 has 4 real tokens of 10, and non-zero ids on its padding.
    const ids = Int32Array.from({ length: 20 }, (_, i) => 1 + ((i * 7) % 40));
    const mask = Int32Array.from({ length: 20 }, (_, i) => (i < 14 ? 1 : 0));
    const together = await run({ batch: 2, tokens: 10, ids, mask });
    const alone = await run({ batch: 1, tokens: 4, ids: ids.slice(10, 14), mask: mask.slice(10, 14) });
    assert.ok(maxAbsDiff(together.subarray(2), alone) < TOLERANCE, 'padding leaked');
    const unmasked = await run({ batch: 2, tokens: 10, ids, mask: new Int32Array(20).fill(1) });
    assert.ok(maxAbsDiff(unmasked.subarray(2), alone) > 1e-3, 'the mask did nothing');
    await session.release();
  });

  it('runs the fused form by default in the onnx engine', async () => {
    assert.equal(new OnnxEngine().graphForm, 'fused');
    assert.equal(plain.graphForm, 'plain');
  });
});
