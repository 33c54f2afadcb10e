import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { registerGradients } from '../../../src/backend/register-gradients.ts';
import { selectBackend } from '../../../src/backend/select-backend.ts';
import { ModelError } from '../../../src/errors.ts';
import { countParams } from '../../../src/model/accounting.ts';
import { largestSubnet } from '../../../src/model/config.ts';
import { dense } from '../../../src/model/encoder.ts';
import { extractSubnet, MaterializedSubnet } from '../../../src/model/materialized-subnet.ts';
import { Rng } from '../../../src/model/random.ts';
import { sliceSubnetWeights } from '../../../src/model/slice-subnet-weights.ts';
import { Supernet } from '../../../src/model/supernet.ts';
import { supernetWeightLayout } from '../../../src/model/weight-layout.ts';
import {
  maxAbsDiff,
  randomBatch,
  randomPairBatch,
  randomSubnet,
  TINY,
  TINY_PAIR,
} from '../../helpers/tiny-model.ts';

describe('supernet', () => {
  let supernet: Supernet;
  before(async () => {
    await selectBackend('wasm');
    await registerGradients();
    supernet = Supernet.create(TINY, { seed: 1 });
  });
  after(() => supernet.dispose());

  it('gives finite logits of shape [batch, labels] for every random subnet', () => {
    const rng = new Rng(2);
    for (let i = 0; i < 20; i++) {
      const logits = supernet.predict(randomBatch(TINY, rng, 3, 7), randomSubnet(TINY, rng));
      assert.equal(logits.length, 3 * TINY.numLabels);
      assert.ok(logits.every(Number.isFinite));
    }
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const batch = randomBatch(TINY, new Rng(3), 2, 6);
    const again = Supernet.create(TINY, { seed: 1 });
    const other = Supernet.create(TINY, { seed: 9 });
    const subnet = largestSubnet(TINY);
    assert.deepEqual(again.predict(batch, subnet), supernet.predict(batch, subnet));
    assert.ok(maxAbsDiff(other.predict(batch, subnet), supernet.predict(batch, subnet)) > 1e-4);
    again.dispose();
    other.dispose();
  });

  it('ignores padding: a row gives the same logits alone and padded in a longer batch', () => {
    const rng = new Rng(4);
    for (let i = 0; i < 10; i++) {
      const subnet = randomSubnet(TINY, rng);
      const padded = randomBatch(TINY, rng, 4, TINY.maxTokens);
      for (let row = 1; row < 4; row++) {
        const length = padded.mask
          .subarray(row * padded.tokens, (row + 1) * padded.tokens)
          .reduce((a, b) => a + b, 0);
        const alone = {
          batch: 1,
          tokens: length,
          ids: padded.ids.slice(row * padded.tokens, row * padded.tokens + length),
          mask: new Int32Array(length).fill(1),
        };
        const all = supernet.predict(padded, subnet);
        const one = supernet.predict(alone, subnet);
        assert.ok(maxAbsDiff(one, all.subarray(row * 2, row * 2 + 2)) < 1e-5, `row ${row} of ${i}`);
      }
    }
  });

  it('changes its output when the subnet changes (the subnet is really an argument)', () => {
    const batch = randomBatch(TINY, new Rng(5), 2, 8);
    const full = supernet.predict(batch, largestSubnet(TINY));
    const narrow = supernet.predict(batch, { layers: [{ layer: 0, heads: 1, ffn: 2 }] });
    // Logits of a fresh init are ~1e-3; float noise here is ~1e-8.
    assert.ok(maxAbsDiff(full, narrow) > 1e-5);
  });

  it('materializes subnets whose outputs equal the supernet slice to 1e-5', () => {
    const rng = new Rng(6);
    for (let i = 0; i < 25; i++) {
      const subnet = randomSubnet(TINY, rng);
      const batch = randomBatch(TINY, rng, 1 + rng.int(4), 2 + rng.int(TINY.maxTokens - 1));
      const extracted = extractSubnet(supernet, subnet);
      assert.ok(
        maxAbsDiff(extracted.predict(batch), supernet.predict(batch, subnet)) < 1e-5,
        `subnet ${extracted.id}`,
      );
      extracted.dispose();
    }
  });

  it('slices subnet weights on the host exactly as on the backend, with fewer parameters', () => {
    const rng = new Rng(8);
    const host = new Map(supernet.readWeights().map((w) => [w.name, w]));
    for (let i = 0; i < 10; i++) {
      const subnet = randomSubnet(TINY, rng);
      const extracted = extractSubnet(supernet, subnet);
      const fromHost = sliceSubnetWeights(TINY, host, subnet);
      const fromBackend = extracted.readWeights();
      assert.deepEqual(
        fromHost.map((w) => w.name),
        fromBackend.map((w) => w.name),
      );
      for (const [k, w] of fromHost.entries()) assert.deepEqual(w.data, fromBackend[k]!.data, w.name);
      const rebuilt = MaterializedSubnet.fromWeights(TINY, subnet, fromHost);
      const batch = randomBatch(TINY, rng, 2, 5);
      assert.deepEqual(rebuilt.predict(batch), extracted.predict(batch));
      rebuilt.dispose();
      extracted.dispose();
    }
  });

  it('keeps a materialized subnet working after its supernet is disposed', () => {
    const owner = Supernet.create(TINY, { seed: 11 });
    const subnet = largestSubnet(TINY);
    const batch = randomBatch(TINY, new Rng(12), 2, 6);
    const expected = owner.predict(batch, subnet);
    const extracted = extractSubnet(owner, subnet);
    owner.dispose();
    assert.ok(maxAbsDiff(extracted.predict(batch), expected) < 1e-6);
    extracted.dispose();
  });

  it('leaks no tensors over 100 forward passes of random subnets', () => {
    const rng = new Rng(13);
    const warm = randomBatch(TINY, rng, 2, 6);
    supernet.predict(warm, largestSubnet(TINY));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) {
      const subnet = randomSubnet(TINY, rng);
      const batch = randomBatch(TINY, rng, 1 + rng.int(3), 2 + rng.int(TINY.maxTokens - 1));
      if (i % 2 === 0) supernet.predict(batch, subnet);
      else {
        const m = extractSubnet(supernet, subnet);
        m.predict(batch);
        m.dispose();
      }
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('refuses bad input with named errors before tfjs sees it', () => {
    const subnet = largestSubnet(TINY);
    const ok = randomBatch(TINY, new Rng(14), 1, 4);
    const cases: Array<[string, () => unknown, RegExp]> = [
      [
        'id out of range',
        () => supernet.predict({ ...ok, ids: Int32Array.from([1, 2, 50, 3]) }, subnet),
        /outside the vocabulary/,
      ],
      [
        'negative id',
        () => supernet.predict({ ...ok, ids: Int32Array.from([1, -1, 2, 3]) }, subnet),
        /outside/,
      ],
      [
        'mask not 0/1',
        () => supernet.predict({ ...ok, mask: Int32Array.from([1, 2, 1, 1]) }, subnet),
        /0 or 1/,
      ],
      ['mask length', () => supernet.predict({ ...ok, mask: new Int32Array(3) }, subnet), /mask must be/],
      [
        'empty batch',
        () =>
          supernet.predict({ batch: 0, tokens: 4, ids: new Int32Array(0), mask: new Int32Array(0) }, subnet),
        /at least one row/,
      ],
      [
        'too long',
        () =>
          supernet.predict(
            { batch: 1, tokens: 13, ids: new Int32Array(13), mask: new Int32Array(13).fill(1) },
            subnet,
          ),
        /1 to 12/,
      ],
      [
        'leading pad',
        () => supernet.predict({ ...ok, mask: Int32Array.from([0, 1, 1, 1]) }, subnet),
        /row 0/,
      ],
    ];
    for (const [name, run, message] of cases) {
      assert.throws(
        run,
        (e: unknown) => e instanceof ModelError && e.code === 'INVALID_INPUT' && message.test(e.message),
        name,
      );
    }
    assert.throws(
      () => supernet.predict(ok, { layers: [{ layer: 0, heads: 9, ffn: 1 }] }),
      (e: unknown) => e instanceof ModelError && e.code === 'SUBNET_OUT_OF_RANGE',
    );
  });

  it('refuses weights with a missing tensor, a wrong shape or an extra name', () => {
    const weights = supernet.readWeights();
    assert.throws(
      () => Supernet.fromWeights(TINY, weights.slice(1)),
      (e: unknown) =>
        e instanceof ModelError && e.code === 'MISSING_WEIGHT' && /embeddings.token/.test(e.message),
    );
    const wrong = weights.map((w) => (w.name === 'pooler.kernel' ? { ...w, shape: [8, 32] } : w));
    assert.throws(
      () => Supernet.fromWeights(TINY, wrong),
      (e: unknown) =>
        e instanceof ModelError && e.code === 'WEIGHT_SHAPE_MISMATCH' && /pooler.kernel/.test(e.message),
    );
    const extra = [...weights, { name: 'surprise', shape: [1], data: new Float32Array(1) }];
    assert.throws(
      () => Supernet.fromWeights(TINY, extra),
      (e: unknown) => e instanceof ModelError && e.code === 'UNEXPECTED_WEIGHT',
    );
  });

  it('trains: gradients reach the used slice only, embeddings included (wasm has no UnsortedSegmentSum)', () => {
    const trainable = Supernet.create(TINY, { seed: 15, trainable: true });
    const subnet = { layers: [{ layer: 1, heads: 2, ffn: 5 }] };
    const batch = randomBatch(TINY, new Rng(16), 2, 6);
    const before = tf.memory().numTensors;
    const { grads, value } = tf.variableGrads(() =>
      tf.tidy(() => {
        const ids = tf.tensor2d(batch.ids, [2, 6], 'int32');
        const mask = tf.tensor2d(Float32Array.from(batch.mask), [2, 6]);
        const logits = trainable.apply(ids, mask, subnet).logits;
        return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d([0, 1], 'int32'), 2), logits) as tf.Scalar;
      }),
    );
    assert.ok(Number.isFinite(value.dataSync()[0]!));
    const ffnIn = grads[
      (trainable.get('layers.1.ffn.input.kernel') as tf.Variable).name
    ]!.arraySync() as number[][];
    assert.ok(
      ffnIn.some((row) => row.slice(0, 5).some((g) => g !== 0)),
      'used neurons get gradient',
    );
    assert.ok(
      ffnIn.every((row) => row.slice(5).every((g) => g === 0)),
      'unused neurons get none',
    );
    assert.equal(
      grads[(trainable.get('layers.0.ffn.input.kernel') as tf.Variable).name],
      undefined,
      'a skipped layer gets no gradient',
    );
    const embedding = grads[(trainable.get('embeddings.token') as tf.Variable).name]!.dataSync();
    assert.ok(embedding.some((g) => g !== 0));
    value.dispose();
    tf.dispose(Object.values(grads));
    assert.equal(tf.memory().numTensors, before);
    trainable.dispose();
  });

  it('computes the custom dense gradient exactly like autodiff of matMul', () => {
    const rng = new Rng(17);
    const make = (shape: [number, number]) =>
      tf.tensor2d(
        Float32Array.from({ length: shape[0] * shape[1] }, () => rng.normal()),
        shape,
      );
    const x = make([5, 3]);
    const kernel = make([3, 4]);
    const bias = tf.tensor1d([0.1, -0.2, 0.3, 0]);
    const upstream = make([5, 4]);
    const ours = tf.grads((a, b, c) =>
      tf.sum(tf.mul(dense(a as tf.Tensor2D, { kernel: b as tf.Tensor2D, bias: c as tf.Tensor1D }), upstream)),
    )([x, kernel, bias]);
    const reference = tf.grads((a, b, c) =>
      tf.sum(tf.mul(tf.add(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), c), upstream)),
    )([x, kernel, bias]);
    for (const [i, g] of ours.entries()) assert.ok(maxAbsDiff(g.dataSync(), reference[i]!.dataSync()) < 1e-5);
    tf.dispose([x, kernel, bias, upstream, ...ours, ...reference]);
  });
});

describe('supernet with token types (text pairs)', () => {
  let pair: Supernet;
  before(async () => {
    await selectBackend('wasm');
    await registerGradients();
    pair = Supernet.create(TINY_PAIR, { seed: 21 });
  });
  after(() => pair.dispose());

  it('has type embeddings only when typeVocabSize is set, whole in every subnet slice', () => {
    assert.ok(!supernetWeightLayout(TINY).some((s) => s.name === 'embeddings.type'));
    const host = new Map(pair.readWeights().map((w) => [w.name, w]));
    assert.deepEqual(host.get('embeddings.type')!.shape, [2, TINY.hiddenSize]);
    const rng = new Rng(22);
    for (let i = 0; i < 10; i++) {
      const subnet = randomSubnet(TINY_PAIR, rng);
      const sliced = sliceSubnetWeights(TINY_PAIR, host, subnet).find((w) => w.name === 'embeddings.type')!;
      assert.deepEqual(sliced.data, host.get('embeddings.type')!.data);
      assert.equal(
        countParams(TINY_PAIR, subnet) - countParams(TINY, subnet),
        2 * TINY.hiddenSize,
        'the type table counts once, whole',
      );
    }
  });

  it('reads token types: they move the logits, and all-zero types equal none', () => {
    const rng = new Rng(23);
    const subnet = largestSubnet(TINY_PAIR);
    const batch = randomPairBatch(TINY_PAIR, rng, 3, 9);
    const typed = pair.predict(batch, subnet);
    const { typeIds: _, ...untyped } = batch;
    const zeros = pair.predict({ ...batch, typeIds: new Int32Array(batch.ids.length) }, subnet);
    assert.deepEqual(pair.predict(untyped, subnet), zeros);
    assert.ok(maxAbsDiff(typed, zeros) > 1e-5);
  });

  it('ignores padding and materializes subnets that agree with it, token types included', () => {
    const rng = new Rng(24);
    for (let i = 0; i < 10; i++) {
      const subnet = randomSubnet(TINY_PAIR, rng);
      const batch = randomPairBatch(TINY_PAIR, rng, 3, 3 + rng.int(TINY.maxTokens - 2));
      const all = pair.predict(batch, subnet);
      const extracted = extractSubnet(pair, subnet);
      assert.ok(maxAbsDiff(extracted.predict(batch), all) < 1e-5, `subnet ${extracted.id}`);
      extracted.dispose();
      const row = 2;
      const at = row * batch.tokens;
      const length = batch.mask.subarray(at, at + batch.tokens).reduce((a, b) => a + b, 0);
      const alone = pair.predict(
        {
          batch: 1,
          tokens: length,
          ids: batch.ids.slice(at, at + length),
          mask: new Int32Array(length).fill(1),
          typeIds: batch.typeIds!.slice(at, at + length),
        },
        subnet,
      );
      assert.ok(maxAbsDiff(alone, all.subarray(row * 2, row * 2 + 2)) < 1e-5, `row ${row} alone`);
    }
  });

  it('refuses token types on a single-text model and types outside the table', () => {
    const batch = randomPairBatch(TINY, new Rng(25), 2, 6);
    const invalid = (message: RegExp) => (e: unknown) =>
      e instanceof ModelError && e.code === 'INVALID_INPUT' && message.test(e.message);
    const single = Supernet.create(TINY, { seed: 28 });
    assert.throws(() => single.predict(batch, largestSubnet(TINY)), invalid(/single-text model/));
    single.dispose();
    const bad = { ...batch, typeIds: batch.typeIds!.map((t, i) => (i === 3 ? 2 : t)) };
    assert.throws(() => pair.predict(bad, largestSubnet(TINY_PAIR)), invalid(/token type 2 at index 3/));
    const short = { ...batch, typeIds: new Int32Array(3) };
    assert.throws(() => pair.predict(short, largestSubnet(TINY_PAIR)), invalid(/typeIds must be/));
  });

  it('trains the type embeddings', () => {
    const trainable = Supernet.create(TINY_PAIR, { seed: 26, trainable: true });
    const batch = randomPairBatch(TINY_PAIR, new Rng(27), 2, 8);
    const { grads, value } = tf.variableGrads(() =>
      tf.tidy(() => {
        const ids = tf.tensor2d(batch.ids, [2, 8], 'int32');
        const mask = tf.tensor2d(Float32Array.from(batch.mask), [2, 8]);
        const typeIds = tf.tensor2d(batch.typeIds!, [2, 8], 'int32');
        const logits = trainable.apply(ids, mask, largestSubnet(TINY_PAIR), { typeIds }).logits;
        return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d([0, 1], 'int32'), 2), logits) as tf.Scalar;
      }),
    );
    const types = grads[(trainable.get('embeddings.type') as tf.Variable).name]!.arraySync() as number[][];
    assert.ok(types[0]!.some((g) => g !== 0) && types[1]!.some((g) => g !== 0), 'both types get gradient');
    value.dispose();
    tf.dispose(Object.values(grads));
    trainable.dispose();
  });
});
