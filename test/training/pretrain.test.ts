import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { registerGradients } from '../../src/backend/register-gradients.ts';
import { selectBackend } from '../../src/backend/select-backend.ts';
import { TokenizerError } from '../../src/errors.ts';
import { largestSubnet } from '../../src/model/config.ts';
import { Rng } from '../../src/model/random.ts';
import { Supernet } from '../../src/model/supernet.ts';
import type { TokenBatch } from '../../src/model/token-batch.ts';
import { loadBertUncasedVocabulary, Vocabulary } from '../../src/tokenizer/index.ts';
import { loadCheckpoint } from '../../training/checkpoint.ts';
import { parseTrainingConfig, stageDigests, withLabels } from '../../training/config.ts';
import tinyConfig from '../../training/configs/tiny.json' with { type: 'json' };
import { deriveSeed } from '../../training/data/batcher.ts';
import { TokenMasker } from '../../training/data/mask-tokens.ts';
import { FlatLayout } from '../../training/flat-params.ts';
import { maskedLmLoss } from '../../training/parallel/losses.ts';
import { runTrainingCli } from '../helpers/run-training-cli.ts';
import { maxAbsDiff, randomBatch, TINY } from '../helpers/tiny-model.ts';

// Rows of random ordinary wordpieces between [CLS] and [SEP], of random lengths, padded: what `pack` makes.
function packedBatch(vocabulary: Vocabulary, rng: Rng, rows: number, tokens: number): TokenBatch {
  const ids = new Int32Array(rows * tokens).fill(vocabulary.padId);
  const mask = new Int32Array(rows * tokens);
  for (let r = 0; r < rows; r++) {
    const length = 2 + rng.int(tokens - 1);
    const row = r * tokens;
    ids[row] = vocabulary.clsId;
    for (let t = 1; t < length - 1; t++) ids[row + t] = 1000 + rng.int(vocabulary.size - 1000);
    ids[row + length - 1] = vocabulary.sepId;
    mask.fill(1, row, row + length);
  }
  return { batch: rows, tokens, ids, mask };
}

describe('masked-LM masking', () => {
  const vocabulary = loadBertUncasedVocabulary();
  const special = new Set([vocabulary.padId, vocabulary.unkId, vocabulary.clsId, vocabulary.sepId]);

  it("chooses round(p n) of each row's ordinary tokens and masks them 80/10/10", () => {
    const batch = packedBatch(vocabulary, new Rng(1), 600, 64);
    const { batch: masked, targets } = new TokenMasker(vocabulary, 0.15).mask(batch, new Rng(2));
    const counts = { mask: 0, random: 0, kept: 0 };
    for (let r = 0; r < batch.batch; r++) {
      let maskable = 0;
      let chosen = 0;
      for (let i = r * batch.tokens; i < (r + 1) * batch.tokens; i++) {
        const original = batch.ids[i]!;
        if (batch.mask[i] === 1 && !special.has(original)) maskable++;
        if (targets[i] === -1) {
          assert.equal(masked.ids[i], original, 'a token not chosen is left alone');
          continue;
        }
        chosen++;
        assert.ok(!special.has(original), `special token ${original} chosen at ${i}`);
        assert.equal(targets[i], original);
        const seen = masked.ids[i]!;
        if (seen === vocabulary.maskId) counts.mask++;
        else if (seen === original) counts.kept++;
        else {
          counts.random++;
          assert.ok(!special.has(seen) && seen !== vocabulary.maskId && seen < vocabulary.size);
        }
      }
      assert.equal(chosen, maskable === 0 ? 0 : Math.max(1, Math.round(0.15 * maskable)), `row ${r}`);
    }
    const total = counts.mask + counts.random + counts.kept;
    assert.ok(total > 2000, `${total} chosen`);
    // ~2,900 draws: a standard error under 0.008 on each share.
    assert.ok(Math.abs(counts.mask / total - 0.8) < 0.03, JSON.stringify(counts));
    assert.ok(Math.abs(counts.random / total - 0.1) < 0.03, JSON.stringify(counts));
    assert.ok(Math.abs(counts.kept / total - 0.1) < 0.03, JSON.stringify(counts));
    assert.deepEqual(masked.mask, batch.mask);
  });

  it('is a function of the seed and the step, and leaves its input alone', () => {
    const batch = packedBatch(vocabulary, new Rng(3), 8, 32);
    const copy = structuredClone(batch);
    const masker = new TokenMasker(vocabulary, 0.15);
    const at = (step: number) => masker.mask(batch, new Rng(deriveSeed(7, 'pretrain', step)));
    assert.deepEqual(at(5), at(5));
    assert.notDeepEqual(at(5).targets, at(6).targets);
    assert.deepEqual(batch, copy);
  });

  it('chooses nothing in a row without ordinary tokens', () => {
    const batch = {
      batch: 1,
      tokens: 4,
      ids: Int32Array.from([vocabulary.clsId, vocabulary.unkId, vocabulary.sepId, vocabulary.padId]),
      mask: Int32Array.from([1, 1, 1, 0]),
    };
    const { targets } = new TokenMasker(vocabulary, 0.5).mask(batch, new Rng(1));
    assert.deepEqual([...targets], [-1, -1, -1, -1]);
  });

  it('refuses a vocabulary without [MASK]', () => {
    const noMask = Vocabulary.fromTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'film']);
    assert.throws(
      () => new TokenMasker(noMask, 0.15),
      (e: unknown) =>
        e instanceof TokenizerError && e.code === 'INVALID_VOCABULARY' && /\[MASK\]/.test(e.message),
    );
  });
});

describe('masked-LM loss', () => {
  before(async () => {
    await selectBackend('wasm');
    await registerGradients();
  });

  it('matches log-softmax cross-entropy over the tied embeddings, value and gradients, without leaks', () => {
    const rng = new Rng(4);
    const normal = (shape: [number, number], scale: number) =>
      tf.tensor2d(
        Float32Array.from({ length: shape[0] * shape[1] }, () => rng.normal() * scale),
        shape,
      );
    const sequence = normal([12, 8], 1); // [batch * tokens, hidden]
    const embedding = normal([50, 8], 0.5); // [vocab, hidden]
    const positions = tf.tensor1d([0, 3, 4, 9, 11], 'int32');
    const targets = tf.tensor1d([7, 7, 0, 49, 21], 'int32');
    const ours = (s: tf.Tensor, e: tf.Tensor) =>
      maskedLmLoss(s as tf.Tensor2D, e as tf.Tensor2D, positions, targets).loss;
    // The textbook form: every logit through tfjs's own gradients.
    const reference = (s: tf.Tensor, e: tf.Tensor) => {
      const logits = tf.matMul(tf.gather(s, positions), e, false, true);
      return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(targets, 50), tf.logSoftmax(logits)), 1))) as tf.Scalar;
    };
    const run = (f: typeof ours) => {
      const { value, grads } = tf.tidy(() => tf.valueAndGrads(f)([sequence, embedding]));
      const out = { value: value.dataSync()[0]!, grads: grads.map((g) => g.dataSync()) };
      tf.dispose([value, ...grads]);
      return out;
    };
    const expected = run(reference);
    const before = tf.memory().numTensors;
    const got = run(ours);
    assert.equal(tf.memory().numTensors, before);
    assert.ok(Math.abs(got.value - expected.value) < 1e-5, `${got.value} vs ${expected.value}`);
    assert.ok(maxAbsDiff(got.grads[0]!, expected.grads[0]!) < 1e-5, 'gradient of the states');
    assert.ok(maxAbsDiff(got.grads[1]!, expected.grads[1]!) < 1e-5, 'gradient of the embeddings');
    const predicted = tf.tidy(() => maskedLmLoss(sequence, embedding, positions, targets).predicted);
    const logits = tf.tidy(() =>
      tf.argMax(tf.matMul(tf.gather(sequence, positions), embedding, false, true), 1),
    );
    assert.deepEqual(predicted.dataSync(), logits.dataSync());
    tf.dispose([sequence, embedding, positions, targets, predicted, logits]);
  });

  it('reads the final states after the final LayerNorm, logits unchanged', () => {
    const supernet = Supernet.create(TINY, { seed: 5 });
    const batch = randomBatch(TINY, new Rng(6), 3, 8);
    const [plain, withSequence, rowMeans] = tf.tidy(() => {
      const ids = tf.tensor2d(batch.ids, [3, 8], 'int32');
      const mask = tf.tensor2d(Float32Array.from(batch.mask), [3, 8]);
      const a = supernet.apply(ids, mask, largestSubnet(TINY));
      const b = supernet.apply(ids, mask, largestSubnet(TINY), { returnSequence: true });
      return [a.logits, b.logits, tf.mean(b.sequence!, 1)];
    });
    assert.equal(rowMeans!.shape[0], 3 * 8);
    // A fresh LayerNorm has gain 1 and bias 0: every token's state has mean 0.
    assert.ok(Math.max(...rowMeans!.dataSync().map(Math.abs)) < 1e-5);
    assert.deepEqual(withSequence!.dataSync(), plain!.dataSync());
    tf.dispose([plain!, withSequence!, rowMeans!]);
    supernet.dispose();
  });
});

// tiny.json at a smaller batch, plus 30 steps of masked-LM; the teacher's learning rate is so small that its
// first step leaves the weights where it found them.
const pretrainConfig = {
  ...tinyConfig,
  batchSize: 16,
  data: { ...tinyConfig.data, limit: { train: 512, dev: 64, test: 64 } },
  pretrain: {
    examples: 480,
    optimizer: { learningRate: 0.01, warmupFraction: 0.1, weightDecay: 0.01, clipNorm: 1 },
    tokens: { choices: [64] },
    maskProbability: 0.15,
  },
  teacher: { ...tinyConfig.teacher, optimizer: { ...tinyConfig.teacher.optimizer, learningRate: 1e-12 } },
};

// Runs the training CLI on the pretrain config.
function train(dir: string, checkpoints: string, extra: string[]) {
  return runTrainingCli([
    ...['--config', join(dir, 'pretrain.json'), '--out', join(dir, 'out'), '--checkpoints', checkpoints],
    ...['--quiet', ...extra],
  ]);
}

describe('pretrain stage', () => {
  const file = parseTrainingConfig(pretrainConfig, 'pretrain');
  const config = withLabels(file, file.labels!);
  const digests = stageDigests(config);
  const finalParams = async (checkpoints: string) =>
    (await loadCheckpoint(checkpoints, `pretrain-final.${digests.pretrain}`, digests.pretrain!))?.arrays.get(
      'params',
    );
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pretrain-'));
    await writeFile(join(dir, 'pretrain.json'), JSON.stringify(pretrainConfig));
    await selectBackend('wasm');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('lowers the masked-LM loss on train texts, then the teacher starts from its weights', {
    timeout: 180_000,
  }, async () => {
    const checkpoints = join(dir, 'straight');
    const mirror = join(dir, 'mirror');
    // 30 pretrain steps, then one teacher step, after which the run stops with a teacher checkpoint.
    const run = await train(dir, checkpoints, ['--mirror', mirror, '--max-steps', '31']);
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stderr, /^stopped: teacher stopped at step 1; run the same command to resume\n$/);

    const log = (await readFile(join(checkpoints, 'log.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map(
        (line) => JSON.parse(line) as { stage: string; step?: number; mlmLoss?: number; maskedAcc?: number },
      );
    const steps = log.filter((e) => e.stage === 'pretrain' && e.step !== undefined);
    assert.deepEqual(
      steps.map((e) => e.step),
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    const first = steps[0]!.mlmLoss!;
    const last = steps[steps.length - 1]!.mlmLoss!;
    // At the start every token of the vocabulary is about equally likely; the loss then falls (smoothed).
    assert.ok(Math.abs(first - Math.log(tinyConfig.architecture.vocabSize)) < 0.1, `first loss ${first}`);
    assert.ok(last < first - 1, `loss ${first} -> ${last}`);
    assert.ok(steps.every((e) => e.maskedAcc! >= 0 && e.maskedAcc! <= 1));

    const final = await loadCheckpoint(checkpoints, `pretrain-final.${digests.pretrain}`, digests.pretrain!);
    assert.equal(final?.state.step, 30);
    assert.ok(typeof final.state.extra.mlmLoss === 'number');
    const pretrained = final.arrays.get('params')!;
    const teacher = await loadCheckpoint(checkpoints, `teacher.${digests.teacher}`, digests.teacher);
    assert.equal(teacher?.state.step, 1);
    assert.ok(
      maxAbsDiff(teacher.arrays.get('params')!, pretrained) < 1e-9,
      'teacher starts from pretrain-final',
    );
    // ... which is not where a teacher without pretraining starts.
    const layout = new FlatLayout(config.architecture);
    const fresh = new Float32Array(layout.total);
    const init = Supernet.create(config.architecture, { seed: deriveSeed(config.seed, 'init') });
    layout.fill(fresh, init.readWeights());
    init.dispose();
    assert.ok(maxAbsDiff(pretrained, fresh) > 0.01);
    // Mirrored like every stage's final checkpoint.
    const mirrored = join(mirror, `${config.model}-${digests.run}`, `pretrain-final.${digests.pretrain}`);
    assert.equal(JSON.parse(await readFile(join(mirrored, 'state.json'), 'utf8')).step, 30);
  });

  it('resumes in the middle of pretraining with bit-identical weights', { timeout: 180_000 }, async () => {
    // Runs after the test above, whose straight run is the reference.
    const checkpoints = join(dir, 'resumed');
    const stopped = await train(dir, checkpoints, ['--max-steps', '12']);
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(stopped.stderr, /^stopped: pretrain stopped at step 12;/);
    const resumed = await train(dir, checkpoints, ['--max-steps', '19']);
    assert.equal(resumed.code, 130, resumed.stderr);
    assert.deepEqual(await finalParams(checkpoints), await finalParams(join(dir, 'straight')));
  });
});
