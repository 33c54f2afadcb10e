import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { selectBackend } from '../../../src/backend/select-backend.ts';
import { largestSubnet } from '../../../src/model/config.ts';
import { Rng } from '../../../src/model/random.ts';
import { Supernet } from '../../../src/model/supernet.ts';
import type { TokenBatch } from '../../../src/model/token-batch.ts';
import { adamwStep, createAdamState } from '../../../training/adamw.ts';
import { FlatLayout } from '../../../training/flat-params.ts';
import { GradientPool } from '../../../training/parallel/gradient-pool.ts';
import type { LossSpec } from '../../../training/parallel/losses.ts';
import { maxAbsDiff, randomBatch, randomSubnet, TINY } from '../../helpers/tiny-model.ts';

// The pool's parameters, flattened in layout order, of a fresh supernet for a seed.
function freshParams(layout: FlatLayout, seed: number): Float32Array {
  const supernet = Supernet.create(TINY, { seed });
  const flat = new Float32Array(layout.total);
  layout.fill(flat, supernet.readWeights());
  supernet.dispose();
  return flat;
}

// Logits of a subnet computed here, on the main thread, from flat parameters.
function localLogits(layout: FlatLayout, flat: Float32Array, batch: TokenBatch): Float32Array {
  const supernet = Supernet.fromWeights(TINY, layout.toWeights(flat));
  const logits = supernet.predict(batch, largestSubnet(TINY));
  supernet.dispose();
  return logits;
}

function norm(values: Float32Array): number {
  return Math.sqrt(values.reduce((sum, v) => sum + v * v, 0));
}

// Labels 0/1 for a batch's rows.
function labelsFor(rows: number, rng: Rng): Int32Array {
  return Int32Array.from({ length: rows }, () => rng.int(2));
}

// Hard labels (smoothed) and the teacher's soft logits: both are means over rows, so the workers' gradients
// weighted by their share of the rows are the whole batch's. (The hidden-state loss is normalised by each
// worker's own tokens, so it is not.)
const LOSS: LossSpec = {
  hardWeight: 1,
  labelSmoothing: 0.1,
  softWeight: 0.5,
  temperature: 2,
  hiddenWeight: 0,
};

describe('GradientPool', () => {
  const layout = new FlatLayout(TINY);
  let teacher: Float32Array;
  let one: GradientPool;
  let two: GradientPool;
  before(async () => {
    await selectBackend('wasm');
    const initial = freshParams(layout, 1);
    teacher = freshParams(layout, 2);
    [one, two] = await Promise.all([
      GradientPool.start(TINY, 1, 'wasm', initial),
      GradientPool.start(TINY, 2, 'wasm', initial),
    ]);
  });
  after(async () => {
    await Promise.all([one?.close(), two?.close()]);
  });

  it("averages two workers' gradients to one worker's on the same batch", async () => {
    const rng = new Rng(3);
    // Five rows: the two workers get three and two.
    const batch = randomBatch(TINY, rng, 5, TINY.maxTokens);
    const labels = labelsFor(5, rng);
    const subnets = [largestSubnet(TINY), randomSubnet(TINY, rng)];
    await Promise.all([one.setTeacher(teacher), two.setTeacher(teacher)]);
    const [alone, split] = await Promise.all([
      one.step(batch, labels, subnets, LOSS),
      two.step(batch, labels, subnets, LOSS),
    ]);
    assert.ok(norm(one.grads) > 1e-3, 'the step has gradients');
    assert.ok(
      maxAbsDiff(one.grads, two.grads) < 1e-5 * norm(one.grads),
      `${maxAbsDiff(one.grads, two.grads)}`,
    );
    assert.ok(Math.abs(alone.loss - split.loss) < 1e-5);
    assert.deepEqual(
      alone.perSubnet.map((s) => s.correct),
      split.perSubnet.map((s) => s.correct),
    );
    await Promise.all([one.setTeacher(null), two.setTeacher(null)]);
  });

  it("averages two workers' masked-LM gradients by their shares of the masked tokens", async () => {
    const rng = new Rng(4);
    const batch = randomBatch(TINY, rng, 3, TINY.maxTokens);
    // Masked: two tokens of the first row (the first worker's), five of the last (the second's).
    const targets = new Int32Array(batch.ids.length).fill(-1);
    const tokens = batch.tokens;
    for (const at of [1, 2, 2 * tokens + 0, 2 * tokens + 1, 2 * tokens + 3, 2 * tokens + 4, 2 * tokens + 5]) {
      if (batch.mask[at] === 1) targets[at] = batch.ids[at]!;
    }
    const [alone, split] = await Promise.all([
      one.maskedLmStep(batch, targets),
      two.maskedLmStep(batch, targets),
    ]);
    assert.equal(alone.masked, split.masked);
    assert.ok(alone.masked >= 3);
    assert.ok(norm(one.grads) > 1e-3);
    assert.ok(
      maxAbsDiff(one.grads, two.grads) < 1e-5 * norm(one.grads),
      `${maxAbsDiff(one.grads, two.grads)}`,
    );
    assert.ok(Math.abs(alone.loss - split.loss) < 1e-5);
  });

  it('gives the workers new parameters before their next request', async () => {
    const rng = new Rng(5);
    const batch = randomBatch(TINY, rng, 4, 8);
    const other = freshParams(layout, 6);
    two.setParams(other);
    assert.deepEqual(two.snapshotParams(), other);
    const [logits] = await two.predict(batch, [largestSubnet(TINY)]);
    assert.ok(maxAbsDiff(logits!, localLogits(layout, other, batch)) < 1e-6);

    // An optimizer update: the pool's parameters are AdamW's result, and the workers compute with them.
    await two.step(batch, labelsFor(4, rng), [largestSubnet(TINY)], { ...LOSS, softWeight: 0 });
    const settings = { learningRate: 0.05, weightDecay: 0.01, clipNorm: 1 };
    const expected = two.snapshotParams();
    adamwStep(expected, two.grads.slice(), createAdamState(layout.total), layout, settings);
    const adam = createAdamState(layout.total);
    const gradNorm = two.applyAdamW(adam, settings);
    assert.ok(gradNorm > 0);
    assert.equal(adam.step, 1);
    assert.deepEqual(two.snapshotParams(), expected);
    assert.ok(maxAbsDiff(expected, other) > 1e-3, 'the update moved the parameters');
    const [after] = await two.predict(batch, [largestSubnet(TINY)]);
    assert.ok(maxAbsDiff(after!, localLogits(layout, expected, batch)) < 1e-6);
    assert.ok(maxAbsDiff(after!, logits!) > 1e-4, 'the workers no longer answer with the old parameters');
  });

  it('refuses parameters of another layout', () => {
    assert.throws(() => one.setParams(new Float32Array(layout.total - 1)), /parameters of length/);
  });
});
