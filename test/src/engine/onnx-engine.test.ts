import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import {
  buildOnnxGraph,
  ONNX_ATTENTION_MASK,
  ONNX_INPUT_IDS,
  ONNX_LOGITS,
  ONNX_TOKEN_EMBEDDINGS,
} from '../../../src/engine/build-onnx-graph.ts';
import type { LoadedSubnet } from '../../../src/engine/engine.ts';
import { OnnxEngine } from '../../../src/engine/onnx-engine.ts';
import { TfjsEngine } from '../../../src/engine/tfjs-engine.ts';
import { EngineError, ModelError } from '../../../src/errors.ts';
import { CostTable, countWeightBytes, tokenTableBytes } from '../../../src/model/accounting.ts';
import { largestSubnet, type SubnetConfig, type SupernetConfig } from '../../../src/model/config.ts';
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

// Loads one subnet on both engines.
async function loadBoth(
  config: SupernetConfig,
  weights: WeightTensor[],
  subnet: SubnetConfig,
  onnx: OnnxEngine,
  tfjs: TfjsEngine,
): Promise<[LoadedSubnet, LoadedSubnet]> {
  const sliced = sliceSubnetWeights(config, weights, subnet);
  return [await onnx.load(config, subnet, sliced), await tfjs.load(config, subnet, sliced)];
}

describe('onnx engine', () => {
  let tfjs: TfjsEngine;
  const tinyWeights = randomSupernetWeights(TINY, 1);

  before(async () => {
    tfjs = await TfjsEngine.create('wasm');
  });

  it('gives the logits of the tfjs engine to 1e-4 on random subnets and padded batches', async () => {
    const onnx = new OnnxEngine();
    const rng = new Rng(2);
    let largest = 0;
    for (let i = 0; i < 30; i++) {
      const subnet = randomSubnet(TINY, rng);
      const [a, b] = await loadBoth(TINY, tinyWeights, subnet, onnx, tfjs);
      for (let j = 0; j < 3; j++) {
        const batch = randomBatch(TINY, rng, 1 + rng.int(5), 2 + rng.int(TINY.maxTokens - 1));
        const [x, y] = [await a.run(batch), await b.run(batch)];
        assert.equal(x.length, batch.batch * TINY.numLabels);
        assert.ok(maxAbsDiff(x, y) < TOLERANCE, `subnet ${a.id}: ${maxAbsDiff(x, y)}`);
        largest = Math.max(largest, ...y.map(Math.abs));
      }
      await a.dispose();
      await b.dispose();
    }
    // The logits are of order 1, so that the tolerance is a real test.
    assert.ok(largest > 0.5, `largest |logit| ${largest}`);
    assert.equal(onnx.sessionsCreated, 30);
  });

  it('gives the logits of the tfjs engine to 1e-4 at the default shape (random weights)', async () => {
    const weights = randomSupernetWeights(DEFAULT_SHAPE, 3);
    const onnx = new OnnxEngine();
    const rng = new Rng(4);
    const subnets: SubnetConfig[] = [
      largestSubnet(DEFAULT_SHAPE),
      {
        layers: [
          { layer: 0, heads: 2, ffn: 512 },
          { layer: 2, heads: 1, ffn: 256 },
        ],
      },
      { layers: [{ layer: 3, heads: 3, ffn: 700 }] },
    ];
    for (const subnet of subnets) {
      const [a, b] = await loadBoth(DEFAULT_SHAPE, weights, subnet, onnx, tfjs);
      for (const [rows, tokens] of [
        [1, 128],
        [3, 37],
      ] as const) {
        const batch = randomBatch(DEFAULT_SHAPE, rng, rows, tokens);
        const [x, y] = [await a.run(batch), await b.run(batch)];
        assert.ok(maxAbsDiff(x, y) < TOLERANCE, `subnet ${a.id} at ${rows}x${tokens}: ${maxAbsDiff(x, y)}`);
        assert.ok(
          y.some((v) => Math.abs(v) > 0.1),
          'logits of order 1',
        );
      }
      // The onnx session holds the subnet's weights but the token table, which every call is fed.
      assert.equal(a.memoryBytes, b.memoryBytes - tokenTableBytes(DEFAULT_SHAPE));
      await a.dispose();
      await b.dispose();
    }
  });

  it('gives the logits of the tfjs engine to 1e-4 on text pairs (token types), padded rows as alone', async () => {
    const pairWeights = randomSupernetWeights(TINY_PAIR, 7);
    const onnx = new OnnxEngine();
    const rng = new Rng(8);
    for (let i = 0; i < 20; i++) {
      const subnet = randomSubnet(TINY_PAIR, rng);
      const [a, b] = await loadBoth(TINY_PAIR, pairWeights, subnet, onnx, tfjs);
      const batch = randomPairBatch(TINY_PAIR, rng, 1 + rng.int(5), 3 + rng.int(TINY.maxTokens - 2));
      const [x, y] = [await a.run(batch), await b.run(batch)];
      assert.ok(maxAbsDiff(x, y) < TOLERANCE, `subnet ${a.id}: ${maxAbsDiff(x, y)}`);
      // The types matter on both engines alike: all type 0 (as a batch without types) moves the logits.
      const { typeIds: _, ...untyped } = batch;
      const [u, v] = [await a.run(untyped), await b.run(untyped)];
      assert.ok(maxAbsDiff(u, v) < TOLERANCE);
      assert.ok(maxAbsDiff(u, x) > 1e-3, `subnet ${a.id}: token types change the logits`);
      const last = batch.batch - 1;
      const at = last * batch.tokens;
      const length = batch.mask.subarray(at, at + batch.tokens).reduce((m, n) => m + n, 0);
      const alone = await a.run({
        batch: 1,
        tokens: length,
        ids: batch.ids.slice(at, at + length),
        mask: batch.mask.slice(at, at + length),
        typeIds: batch.typeIds!.slice(at, at + length),
      });
      assert.ok(maxAbsDiff(alone, x.subarray(last * TINY.numLabels)) < TOLERANCE, `subnet ${a.id} alone`);
      await a.dispose();
      await b.dispose();
    }
  });

  it('gives the logits of the tfjs engine to 1e-4 on pairs at the default shape (random weights)', async () => {
    const config = { ...DEFAULT_SHAPE, typeVocabSize: 2 };
    const weights = randomSupernetWeights(config, 9);
    const onnx = new OnnxEngine();
    const rng = new Rng(10);
    const subnet = {
      layers: [
        { layer: 0, heads: 2, ffn: 512 },
        { layer: 3, heads: 4, ffn: 1024 },
      ],
    };
    const [a, b] = await loadBoth(config, weights, subnet, onnx, tfjs);
    for (const [rows, tokens] of [
      [1, 128],
      [3, 37],
    ] as const) {
      const batch = randomPairBatch(config, rng, rows, tokens);
      const [x, y] = [await a.run(batch), await b.run(batch)];
      assert.ok(maxAbsDiff(x, y) < TOLERANCE, `${rows}x${tokens}: ${maxAbsDiff(x, y)}`);
      assert.ok(
        y.some((v) => Math.abs(v) > 0.1),
        'logits of order 1',
      );
    }
    assert.equal(a.memoryBytes, b.memoryBytes - tokenTableBytes(config));
    await a.dispose();
    await b.dispose();
  });

  it('refuses token types on a single-text subnet before onnxruntime sees them', async () => {
    const onnx = new OnnxEngine();
    const subnet = largestSubnet(TINY);
    const loaded = await onnx.load(TINY, subnet, sliceSubnetWeights(TINY, tinyWeights, subnet));
    await assert.rejects(
      loaded.run(randomPairBatch(TINY, new Rng(11), 1, 6)),
      (e: unknown) => e instanceof ModelError && e.code === 'INVALID_INPUT' && /single-text/.test(e.message),
    );
    await loaded.dispose();
  });

  // The scheduler batches requests of one subnet read at different lengths into one call, padded to the
  // longest: that is only sound if padding changes no row's logits.
  it('gives each row of a padded batch the logits it gets alone', async () => {
    const onnx = new OnnxEngine();
    const rng = new Rng(5);
    for (let i = 0; i < 6; i++) {
      const subnet = randomSubnet(TINY, rng);
      const loaded = await onnx.load(TINY, subnet, sliceSubnetWeights(TINY, tinyWeights, subnet));
      const batch = randomBatch(TINY, rng, 4, TINY.maxTokens);
      const together = await loaded.run(batch);
      for (let r = 0; r < batch.batch; r++) {
        const row = batch.mask.subarray(r * batch.tokens, (r + 1) * batch.tokens);
        const length = row.indexOf(0) < 0 ? batch.tokens : row.indexOf(0);
        const start = r * batch.tokens;
        const alone = await loaded.run({
          batch: 1,
          tokens: length,
          ids: batch.ids.slice(start, start + length),
          mask: batch.mask.slice(start, start + length),
        });
        const mine = together.subarray(r * TINY.numLabels, (r + 1) * TINY.numLabels);
        assert.ok(maxAbsDiff(mine, alone) < TOLERANCE, `subnet ${loaded.id} row ${r} (${length} tokens)`);
      }
      await loaded.dispose();
    }
  });

  it('reuses one session over 10,000 calls, with the same answer at the end', async () => {
    const onnx = new OnnxEngine();
    const subnet = { layers: [{ layer: 0, heads: 1, ffn: 4 }] };
    const loaded = await onnx.load(TINY, subnet, sliceSubnetWeights(TINY, tinyWeights, subnet));
    const batches = Array.from({ length: 8 }, (_, i) => randomBatch(TINY, new Rng(10 + i), 1 + (i % 3), 12));
    const first = await Promise.all(batches.map((b) => loaded.run(b)));
    for (let i = 0; i < 10_000; i++) await loaded.run(batches[i % batches.length]!);
    const last = await Promise.all(batches.map((b) => loaded.run(b)));
    assert.deepEqual(last, first);
    assert.equal(onnx.sessionsCreated, 1);
    await loaded.dispose();
  });

  it('refuses bad input with INVALID_INPUT before onnxruntime sees it', async () => {
    const onnx = new OnnxEngine();
    const subnet = largestSubnet(TINY);
    const loaded = await onnx.load(TINY, subnet, sliceSubnetWeights(TINY, tinyWeights, subnet));
    const ok = randomBatch(TINY, new Rng(5), 1, 4);
    const cases: Array<[string, TokenBatch, RegExp]> = [
      ['id out of range', { ...ok, ids: Int32Array.from([1, 2, 50, 3]) }, /outside the vocabulary/],
      ['negative id', { ...ok, ids: Int32Array.from([1, -1, 2, 3]) }, /outside/],
      [
        'empty batch',
        { batch: 0, tokens: 4, ids: new Int32Array(0), mask: new Int32Array(0) },
        /at least one row/,
      ],
      ['mask length', { ...ok, mask: new Int32Array(3) }, /mask must be/],
      ['mask values', { ...ok, mask: Int32Array.from([1, 1, 2, 0]) }, /0 or 1/],
      ['leading pad', { ...ok, mask: Int32Array.from([0, 1, 1, 1]) }, /row 0/],
      ['ids as floats', { ...ok, ids: new Float32Array(4) as unknown as Int32Array }, /Int32Array/],
      [
        'too long',
        { batch: 1, tokens: 13, ids: new Int32Array(13), mask: new Int32Array(13).fill(1) },
        /1 to 12/,
      ],
    ];
    for (const [name, batch, message] of cases) {
      await assert.rejects(
        loaded.run(batch),
        (e: unknown) => e instanceof ModelError && e.code === 'INVALID_INPUT' && message.test(e.message),
        name,
      );
    }
    // Still healthy after the refusals.
    assert.equal((await loaded.run(ok)).length, 2);
    await loaded.dispose();
  });

  it('feeds every subnet of a model one token table, and answers as the graph with the table inside', async () => {
    const ort = await import('onnxruntime-node');
    const onnx = new OnnxEngine();
    const subnets: SubnetConfig[] = [largestSubnet(TINY), { layers: [{ layer: 1, heads: 1, ffn: 8 }] }];
    const supernetTable = tinyWeights.find((w) => w.name === 'embeddings.token')!.data;
    const batch = randomBatch(TINY, new Rng(21), 3, 9);
    for (const subnet of subnets) {
      const sliced = sliceSubnetWeights(TINY, tinyWeights, subnet);
      const table = sliced.find((w) => w.name === 'embeddings.token')!.data;
      // The slice is a view of the supernet's table: every subnet reads the same memory.
      assert.equal(table.buffer, supernetTable.buffer);
      assert.equal(table.byteOffset, supernetTable.byteOffset);
      const graph = onnxProto.onnx.ModelProto.decode(
        buildOnnxGraph(TINY, subnet, sliced, {}, { tokenTable: 'input', form: onnx.graphForm }),
      );
      assert.ok(graph.graph!.input!.some((i) => i.name === ONNX_TOKEN_EMBEDDINGS));
      assert.ok(!graph.graph!.initializer!.some((t) => t.name === 'embeddings.token'));
      const loaded = await onnx.load(TINY, subnet, sliced);
      assert.equal(loaded.memoryBytes, countWeightBytes(TINY, subnet) - tokenTableBytes(TINY));
      const inside = await ort.InferenceSession.create(
        buildOnnxGraph(TINY, subnet, sliced, {}, { form: onnx.graphForm }),
      );
      const reference = await inside.run({
        [ONNX_INPUT_IDS]: new ort.Tensor('int32', batch.ids, [batch.batch, batch.tokens]),
        [ONNX_ATTENTION_MASK]: new ort.Tensor('int32', batch.mask, [batch.batch, batch.tokens]),
      });
      assert.deepEqual(await loaded.run(batch), reference[ONNX_LOGITS]!.data);
      await inside.release();
      await loaded.dispose();
    }
  });

  it('runs on weights viewed in a SharedArrayBuffer, as in an engine worker', async () => {
    const bytes = tinyWeights.reduce((sum, w) => sum + w.data.byteLength, 0);
    const shared = new SharedArrayBuffer(bytes);
    let offset = 0;
    const sharedWeights = tinyWeights.map((w) => {
      const data = new Float32Array(shared, offset, w.data.length);
      data.set(w.data);
      offset += w.data.byteLength;
      return { ...w, data };
    });
    const onnx = new OnnxEngine();
    const batch = randomBatch(TINY, new Rng(22), 2, 7);
    for (const subnet of [largestSubnet(TINY), { layers: [{ layer: 0, heads: 2, ffn: 8 }] }]) {
      const [own, viewed] = [
        await onnx.load(TINY, subnet, sliceSubnetWeights(TINY, tinyWeights, subnet)),
        await onnx.load(TINY, subnet, sliceSubnetWeights(TINY, sharedWeights, subnet)),
      ];
      assert.deepEqual(await viewed.run(batch), await own.run(batch));
      await own.dispose();
      await viewed.dispose();
    }
  });

  it('runs small calls on one thread and large ones on intraOpThreads, with the same logits', async () => {
    const weights = randomSupernetWeights(DEFAULT_SHAPE, 5);
    const subnet = largestSubnet(DEFAULT_SHAPE);
    const sliced = sliceSubnetWeights(DEFAULT_SHAPE, weights, subnet);
    const cost = new CostTable(DEFAULT_SHAPE, subnet);
    const session = countWeightBytes(DEFAULT_SHAPE, subnet) - tokenTableBytes(DEFAULT_SHAPE);
    const single = await new OnnxEngine().load(DEFAULT_SHAPE, subnet, sliced);
    // From 4 texts of 64 tokens up, calls run on 2 threads.
    const split = new OnnxEngine({ intraOpThreads: 2, pooledFromFlops: cost.flops(4, 64) });
    const both = (await split.load(DEFAULT_SHAPE, subnet, sliced)) as LoadedSubnet & {
      threadsFor(batch: number, tokens: number): number;
    };
    assert.equal(split.sessionsCreated, 2);
    assert.equal(both.memoryBytes, 2 * session);
    assert.equal(split.residentBytes(DEFAULT_SHAPE, subnet, 'fp32'), 2 * session);
    assert.equal(both.threadsFor(1, 16), 1);
    assert.equal(both.threadsFor(3, 64), 1);
    assert.equal(both.threadsFor(4, 64), 2);
    assert.equal(both.threadsFor(8, 128), 2);
    const rng = new Rng(6);
    for (const [rows, tokens] of [
      [1, 16],
      [8, 128],
    ] as const) {
      const batch = randomBatch(DEFAULT_SHAPE, rng, rows, tokens);
      const [x, y] = [await single.run(batch), await both.run(batch)];
      assert.ok(maxAbsDiff(x, y) < 1e-5, `${rows}x${tokens}: ${maxAbsDiff(x, y)}`);
    }
    await both.dispose();
    await single.dispose();
    // Every call under the threshold: one session of one thread; every call over it: one of 2 threads.
    for (const [pooledFromFlops, threads] of [
      [Number.POSITIVE_INFINITY, 1],
      [0, 2],
    ] as const) {
      const engine = new OnnxEngine({ intraOpThreads: 2, pooledFromFlops });
      const loaded = (await engine.load(DEFAULT_SHAPE, subnet, sliced)) as typeof both;
      assert.equal(engine.sessionsCreated, 1);
      assert.equal(loaded.memoryBytes, session);
      assert.equal(loaded.threadsFor(1, 16), threads);
      assert.equal(loaded.threadsFor(64, 128), threads);
      await loaded.dispose();
    }
  });

  it('refuses subnets and weights that do not fit, with named errors', async () => {
    const onnx = new OnnxEngine();
    const subnet = { layers: [{ layer: 0, heads: 2, ffn: 8 }] };
    const sliced = sliceSubnetWeights(TINY, tinyWeights, subnet);
    await assert.rejects(
      onnx.load(TINY, { layers: [{ layer: 0, heads: 9, ffn: 8 }] }, sliced),
      (e: unknown) => e instanceof ModelError && e.code === 'SUBNET_OUT_OF_RANGE',
    );
    const wrong = sliced.map((w) => (w.name === 'layers.0.ffn.input.bias' ? { ...w, shape: [9] } : w));
    await assert.rejects(
      onnx.load(TINY, subnet, wrong),
      (e: unknown) => e instanceof ModelError && e.code === 'WEIGHT_SHAPE_MISMATCH',
    );
    assert.throws(
      () => new OnnxEngine({ intraOpThreads: 0 }),
      (e: unknown) => e instanceof EngineError && e.code === 'ENGINE_UNAVAILABLE',
    );
    assert.equal(onnx.sessionsCreated, 0);
  });

  it('finishes calls in flight before releasing its session, then refuses new ones', async () => {
    const onnx = new OnnxEngine({ intraOpThreads: 2 });
    const subnet = largestSubnet(TINY);
    const loaded = await onnx.load(TINY, subnet, sliceSubnetWeights(TINY, tinyWeights, subnet));
    const batch = randomBatch(TINY, new Rng(6), 2, 8);
    const running = loaded.run(batch);
    const disposed = loaded.dispose();
    assert.equal((await running).length, 4);
    await disposed;
    await assert.rejects(
      loaded.run(batch),
      (e: unknown) => e instanceof EngineError && e.code === 'SUBNET_DISPOSED',
    );
    await loaded.dispose();
  });
});
