import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import { buildOnnxGraph } from '../../../src/engine/build-onnx-graph.ts';
import { OnnxEngine } from '../../../src/engine/onnx-engine.ts';
import { SubnetCache } from '../../../src/engine/subnet-cache.ts';
import { TfjsEngine } from '../../../src/engine/tfjs-engine.ts';
import { CostTable, countWeightBytes, tokenTableBytes } from '../../../src/model/accounting.ts';
import { largestSubnet, type SubnetConfig, type SupernetConfig } from '../../../src/model/config.ts';
import { isQuantizedWeight } from '../../../src/model/quantize.ts';
import { Rng } from '../../../src/model/random.ts';
import { sliceSubnetWeights } from '../../../src/model/slice-subnet-weights.ts';
import { subnetWeightLayout } from '../../../src/model/weight-layout.ts';
import { randomSupernetWeights } from '../../helpers/random-weights.ts';
import { maxAbsDiff, randomBatch, randomPairBatch, TINY_PAIR } from '../../helpers/tiny-model.ts';
import { FIXTURE_ARCH } from '../../serving/fixture.ts';

// The serving fixture's supernet shape: hidden 64, 3 layers, the BERT vocabulary.
const FIXTURE: SupernetConfig = FIXTURE_ARCH;
const SUBNETS: SubnetConfig[] = [
  largestSubnet(FIXTURE),
  { layers: [{ layer: 0, heads: 1, ffn: 32 }] },
  {
    layers: [
      { layer: 0, heads: 2, ffn: 128 },
      { layer: 2, heads: 3, ffn: 200 },
    ],
  },
];
// int8 logits against fp32 on logits of order 1: the error of 8-bit weights and activations, far below it.
const INT8_TOLERANCE = 0.05;

describe('int8 subnets', () => {
  const weights = randomSupernetWeights(FIXTURE, 1);
  let tfjs: TfjsEngine;

  before(async () => {
    tfjs = await TfjsEngine.create('wasm');
  });

  it('give onnx logits within tolerance of fp32, and not the fp32 logits themselves', async () => {
    const onnx = new OnnxEngine();
    const rng = new Rng(3);
    for (const subnet of SUBNETS) {
      const sliced = sliceSubnetWeights(FIXTURE, weights, subnet);
      const fp32 = await onnx.load(FIXTURE, subnet, sliced);
      const int8 = await onnx.load(FIXTURE, subnet, sliced, 'int8');
      assert.equal(int8.precision, 'int8');
      assert.ok(int8.id.endsWith('-int8'), int8.id);
      for (const [rows, tokens] of [
        [1, 16],
        [4, 100],
      ] as const) {
        const batch = randomBatch(FIXTURE, rng, rows, tokens);
        const [x, y] = [await fp32.run(batch), await int8.run(batch)];
        const diff = maxAbsDiff(x, y);
        assert.ok(diff < INT8_TOLERANCE, `${int8.id} at ${rows}x${tokens}: ${diff}`);
        assert.ok(diff > 1e-6, `${int8.id} gave the fp32 logits: were its weights quantized?`);
        assert.ok(
          x.some((v) => Math.abs(v) > 0.1),
          'logits of order 1',
        );
      }
      await fp32.dispose();
      await int8.dispose();
    }
  });

  it('hold their matmul kernels in a quarter of the bytes, and say so in memoryBytes and the cost model', async () => {
    const onnx = new OnnxEngine();
    const subnet = largestSubnet(FIXTURE);
    const sliced = sliceSubnetWeights(FIXTURE, weights, subnet);
    const [fp32, int8] = [
      await onnx.load(FIXTURE, subnet, sliced),
      await onnx.load(FIXTURE, subnet, sliced, 'int8'),
    ];
    // The sessions hold everything but the token table (fed at each call); the cost model counts it.
    const table = tokenTableBytes(FIXTURE);
    assert.equal(fp32.memoryBytes, countWeightBytes(FIXTURE, subnet, 'fp32') - table);
    assert.equal(int8.memoryBytes, countWeightBytes(FIXTURE, subnet, 'int8') - table);
    assert.equal(new CostTable(FIXTURE, subnet, 'int8').weightBytes - table, int8.memoryBytes);
    assert.equal(new CostTable(FIXTURE, subnet).weightBytes - table, fp32.memoryBytes);
    let kernelValues = 0;
    let kernelColumns = 0;
    for (const spec of subnetWeightLayout(FIXTURE, subnet)) {
      if (!isQuantizedWeight(spec.name)) continue;
      kernelValues += spec.shape[0]! * spec.shape[1]!;
      kernelColumns += spec.shape[1]!;
    }
    assert.ok(kernelValues > 0);
    // fp32 - int8 = 4 bytes a value - (1 byte a value + a 4-byte scale a column).
    assert.equal(fp32.memoryBytes - int8.memoryBytes, 3 * kernelValues - 4 * kernelColumns);
    await fp32.dispose();
    await int8.dispose();
  });

  it('are written with standard operators by default, or the contrib op, and both give the same logits', async () => {
    const subnet = SUBNETS[2]!;
    const sliced = sliceSubnetWeights(FIXTURE, weights, subnet);
    const ops = (model: Uint8Array) => {
      const graph = onnxProto.onnx.ModelProto.decode(model).graph!;
      return graph.node!.map((n) => `${n.domain || ''}${n.domain ? ':' : ''}${n.opType}`);
    };
    const standard = buildOnnxGraph(FIXTURE, subnet, sliced, {}, { precision: 'int8' });
    const contrib = buildOnnxGraph(
      FIXTURE,
      subnet,
      sliced,
      {},
      {
        precision: 'int8',
        int8MatMul: 'contrib',
      },
    );
    // Six matmuls per layer are integer; attention's two and the pooling one stay float.
    assert.equal(ops(standard).filter((o) => o === 'MatMulInteger').length, 12);
    assert.equal(ops(standard).filter((o) => o === 'MatMul').length, 2 * 2 + 1);
    assert.equal(ops(contrib).filter((o) => o === 'com.microsoft:MatMulIntegerToFloat').length, 12);
    const fp32Ops = ops(buildOnnxGraph(FIXTURE, subnet, sliced));
    assert.ok(!fp32Ops.some((o) => o.includes('Integer') || o.includes('Quantize')));

    const ort = await import('onnxruntime-node');
    const batch = randomBatch(FIXTURE, new Rng(5), 3, 40);
    const feeds = {
      input_ids: new ort.Tensor('int32', batch.ids, [batch.batch, batch.tokens]),
      attention_mask: new ort.Tensor('int32', batch.mask, [batch.batch, batch.tokens]),
    };
    const logits: Float32Array[] = [];
    for (const model of [standard, contrib]) {
      const session = await ort.InferenceSession.create(model);
      logits.push((await session.run(feeds)).logits!.data as Float32Array);
      await session.release();
    }
    assert.ok(maxAbsDiff(logits[0]!, logits[1]!) < 1e-5, `${maxAbsDiff(logits[0]!, logits[1]!)}`);
  });

  it('are simulated on tfjs (dequantized kernels), within tolerance of onnx int8, on pair models too', async () => {
    const onnx = new OnnxEngine();
    const rng = new Rng(6);
    const cases: Array<[SupernetConfig, SubnetConfig, boolean]> = [
      [FIXTURE, SUBNETS[0]!, false],
      [FIXTURE, SUBNETS[2]!, false],
      [TINY_PAIR, largestSubnet(TINY_PAIR), true],
    ];
    for (const [config, subnet, pair] of cases) {
      const sliced = sliceSubnetWeights(config, randomSupernetWeights(config, 2), subnet);
      const a = await onnx.load(config, subnet, sliced, 'int8');
      const b = await tfjs.load(config, subnet, sliced, 'int8');
      const c = await tfjs.load(config, subnet, sliced);
      assert.equal(b.id, a.id);
      const batch = pair ? randomPairBatch(config, rng, 3, 10) : randomBatch(config, rng, 2, 50);
      const [x, y, z] = [await a.run(batch), await b.run(batch), await c.run(batch)];
      assert.ok(maxAbsDiff(x, y) < INT8_TOLERANCE, `${a.id}: ${maxAbsDiff(x, y)}`);
      assert.ok(maxAbsDiff(y, z) > 1e-6, `${b.id} on tfjs gave the fp32 logits`);
      for (const s of [a, b, c]) await s.dispose();
    }
  });

  it('are cached apart from their fp32 twins', async () => {
    const onnx = new OnnxEngine();
    const cache = new SubnetCache({
      engine: onnx,
      config: FIXTURE,
      supernetWeights: weights,
      budget: 1e9,
    });
    const subnet = SUBNETS[1]!;
    const fp32 = await cache.acquire(subnet);
    const int8 = await cache.acquire(subnet, 'int8');
    assert.notEqual(fp32.subnet, int8.subnet);
    assert.deepEqual(
      cache.resident().map((r) => r.id),
      ['0h1f32', '0h1f32-int8'],
    );
    fp32.release();
    int8.release();
    (await cache.acquire(subnet, 'int8')).release();
    assert.deepEqual([cache.stats().misses, cache.stats().hits, onnx.sessionsCreated], [2, 1, 2]);
    await cache.dispose();
  });
});
