import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../../src/backend/select-backend.ts';
import { TfjsEngine } from '../../../src/engine/tfjs-engine.ts';
import { EngineError, ModelError } from '../../../src/errors.ts';
import { largestSubnet } from '../../../src/model/config.ts';
import { MaterializedSubnet } from '../../../src/model/materialized-subnet.ts';
import { Rng } from '../../../src/model/random.ts';
import { sliceSubnetWeights } from '../../../src/model/slice-subnet-weights.ts';
import { randomSupernetWeights } from '../../helpers/random-weights.ts';
import { randomBatch, TINY } from '../../helpers/tiny-model.ts';

describe('tfjs engine', () => {
  const weights = randomSupernetWeights(TINY, 1);

  before(async () => {
    await selectBackend('wasm');
  });

  it('runs a materialized subnet on the active backend and reports its weight bytes', async () => {
    const engine = new TfjsEngine();
    assert.equal(engine.backend, 'wasm');
    const subnet = { layers: [{ layer: 1, heads: 2, ffn: 9 }] };
    const sliced = sliceSubnetWeights(TINY, weights, subnet);
    const loaded = await engine.load(TINY, subnet, sliced);
    const reference = MaterializedSubnet.fromWeights(TINY, subnet, sliced);
    const batch = randomBatch(TINY, new Rng(2), 3, 7);
    assert.deepEqual(await loaded.run(batch), reference.predict(batch));
    assert.equal(loaded.id, '1h2f9');
    assert.equal(loaded.memoryBytes, reference.weightBytes);
    reference.dispose();
    await loaded.dispose();
  });

  it('keeps tf.memory().numTensors flat over 10,000 calls and frees its weights on dispose', async () => {
    const engine = new TfjsEngine();
    const before = tf.memory().numTensors;
    const subnet = { layers: [{ layer: 0, heads: 1, ffn: 4 }] };
    const loaded = await engine.load(TINY, subnet, sliceSubnetWeights(TINY, weights, subnet));
    const loadedTensors = tf.memory().numTensors;
    assert.ok(loadedTensors > before);
    const batches = Array.from({ length: 4 }, (_, i) => randomBatch(TINY, new Rng(10 + i), 1 + i, 12));
    for (let i = 0; i < 10_000; i++) await loaded.run(batches[i % batches.length]!);
    assert.equal(tf.memory().numTensors, loadedTensors);
    await loaded.dispose();
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(
      loaded.run(batches[0]!),
      (e: unknown) => e instanceof EngineError && e.code === 'SUBNET_DISPOSED',
    );
  });

  it('refuses bad input with INVALID_INPUT and leaks nothing doing so', async () => {
    const engine = new TfjsEngine();
    const subnet = largestSubnet(TINY);
    const loaded = await engine.load(TINY, subnet, sliceSubnetWeights(TINY, weights, subnet));
    const before = tf.memory().numTensors;
    const ok = randomBatch(TINY, new Rng(3), 1, 4);
    for (const batch of [
      { ...ok, ids: Int32Array.from([1, 2, 50, 3]) },
      { batch: 0, tokens: 4, ids: new Int32Array(0), mask: new Int32Array(0) },
      { ...ok, mask: new Int32Array(5) },
    ]) {
      await assert.rejects(
        loaded.run(batch),
        (e: unknown) => e instanceof ModelError && e.code === 'INVALID_INPUT',
      );
    }
    assert.equal(tf.memory().numTensors, before);
    await loaded.dispose();
  });

  it('refuses to load on a backend other than the one it was created on', async () => {
    const engine = new TfjsEngine();
    await selectBackend('cpu');
    try {
      const subnet = largestSubnet(TINY);
      await assert.rejects(
        engine.load(TINY, subnet, sliceSubnetWeights(TINY, weights, subnet)),
        (e: unknown) => e instanceof EngineError && e.code === 'ENGINE_UNAVAILABLE',
      );
    } finally {
      await selectBackend('wasm');
    }
  });
});
