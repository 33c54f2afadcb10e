import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { selectBackend } from '../../src/backend/select-backend.ts';
import { formatOperatingPointId, largestSubnet, type OperatingPoint } from '../../src/model/config.ts';
import { Rng } from '../../src/model/random.ts';
import { Supernet } from '../../src/model/supernet.ts';
import { loadBertUncasedVocabulary, WordPieceTokenizer } from '../../src/tokenizer/index.ts';
import { adamwStep, createAdamState, learningRateAt } from '../../training/adamw.ts';
import { bowBaseline, crossFitBow } from '../../training/bow-baseline.ts';
import { CheckpointMismatchError, loadCheckpoint, saveCheckpoint } from '../../training/checkpoint.ts';
import {
  ConfigError,
  configDigest,
  parseTrainingConfig,
  stageDigests,
  withLabels,
} from '../../training/config.ts';
import tinyConfig from '../../training/configs/tiny.json' with { type: 'json' };
import { Confusion } from '../../training/confusion.ts';
import { Batcher } from '../../training/data/batcher.ts';
import { cleanReview } from '../../training/data/imdb.ts';
import { exampleKey, foldWhitespace, splitExamples } from '../../training/data/split-examples.ts';
import type { FlatLayout } from '../../training/flat-params.ts';
import { rewireWeights } from '../../training/rewire.ts';
import {
  catalogFront,
  nearFront,
  paretoFront,
  type SearchPoint,
  searchFront,
  spreadCatalog,
  standardError,
} from '../../training/search.ts';
import { layersForDepth } from '../../training/search-space.ts';
import { maxAbsDiff, randomBatch, TINY } from '../helpers/tiny-model.ts';

// A config as plain JSON, any field of which a test may edit.
// biome-ignore lint/suspicious/noExplicitAny: tests reach into arbitrary fields of a JSON document
type EditableConfig = Record<string, any>;

describe('training config', () => {
  it('accepts the committed configs and gives a stable digest', async () => {
    for (const name of ['tiny', 'quick', 'default', 'pretrained', 'bow-prior', 'rebalanced']) {
      const json = (await import(`../../training/configs/${name}.json`, { with: { type: 'json' } })).default;
      const config = parseTrainingConfig(json, name);
      assert.equal(configDigest(config), configDigest(parseTrainingConfig(structuredClone(json), name)));
    }
  });

  it('chains stage digests: an edit changes its stage and the ones after it, nothing before', async () => {
    const json = (await import('../../training/configs/tiny.json', { with: { type: 'json' } })).default;
    const base = stageDigests(parseTrainingConfig(structuredClone(json), 'tiny'));
    const edit = (change: (c: EditableConfig) => void) => {
      const copy = structuredClone(json) as EditableConfig;
      change(copy);
      return stageDigests(parseTrainingConfig(copy, 'edited'));
    };
    const changed = (d: ReturnType<typeof stageDigests>) =>
      (Object.keys(base) as Array<keyof typeof base>).filter((k) => d[k] !== base[k]);
    assert.deepEqual(changed(edit((c) => (c.width.examples += 32))), ['width', 'depth', 'search']);
    assert.deepEqual(changed(edit((c) => (c.search.generations += 1))), ['search']);
    // Input lengths only shape the search; the subnet axes shape what the depth stage samples.
    assert.deepEqual(changed(edit((c) => c.searchSpace.tokenChoices.unshift(8))), ['search']);
    assert.deepEqual(changed(edit((c) => c.searchSpace.depthChoices.pop())), ['depth', 'search']);
    assert.deepEqual(changed(edit((c) => (c.rewire.examples += 1))), ['rewired', 'width', 'depth', 'search']);
    assert.deepEqual(changed(edit((c) => (c.seed += 1))), Object.keys(base));
    // The worker count splits a batch without changing its sum: no stage is invalidated.
    assert.deepEqual(changed(edit((c) => (c.workers = 1))), []);
    // The bag-of-words prior feeds the distillation stages: the teacher is kept.
    assert.deepEqual(changed(edit((c) => (c.bowPrior = { tokens: 64 }))), ['width', 'depth', 'search']);
    assert.deepEqual(
      changed(
        edit((c) => {
          c.bowPrior = { tokens: 64 };
          c.depth.priorWeight = 0.5;
        }),
      ),
      ['width', 'depth', 'search'],
    );
  });

  it('keeps the digests of the committed default config, whose checkpoints a long run depends on', async () => {
    const json = (await import('../../training/configs/default.json', { with: { type: 'json' } })).default;
    const config = parseTrainingConfig(json, 'default');
    assert.deepEqual(stageDigests(config), {
      run: 'e69c04aeda54cdd2',
      teacher: '20962ad0e270163d',
      rewired: '1407bc8d30f58e2a',
      width: 'e52b78fc1e8e86c1',
      depth: 'b2e6c4a467beb14d',
      search: 'a90e55465205ff02',
    });
    assert.equal(configDigest(config), 'ff52617c6e7287a1');
  });

  it('chains a pretrain stage between the run and the teacher', async () => {
    const json = (await import('../../training/configs/tiny.json', { with: { type: 'json' } })).default;
    const without = stageDigests(parseTrainingConfig(structuredClone(json), 'tiny'));
    const withPretrain = (change: (c: EditableConfig) => void = () => {}) => {
      const copy = structuredClone(json) as EditableConfig;
      copy.pretrain = {
        examples: 256,
        optimizer: { learningRate: 0.001 },
        tokens: { choices: [64] },
      };
      change(copy);
      return stageDigests(parseTrainingConfig(copy, 'pretrain'));
    };
    const base = withPretrain();
    assert.equal(base.run, without.run);
    assert.ok(base.pretrain && without.pretrain === undefined);
    const later = ['teacher', 'rewired', 'width', 'depth', 'search'] as const;
    for (const k of later) assert.notEqual(base[k], without[k], k);
    const changed = (d: ReturnType<typeof stageDigests>) =>
      (Object.keys(base) as Array<keyof typeof base>).filter((k) => d[k] !== base[k]);
    assert.deepEqual(changed(withPretrain((c) => (c.pretrain.maskProbability = 0.2))), [
      'pretrain',
      ...later,
    ]);
    assert.deepEqual(changed(withPretrain((c) => (c.pretrain.examples += 32))), ['pretrain', ...later]);
    // Defaults are part of the digest as parsed: spelling one out changes nothing.
    assert.deepEqual(changed(withPretrain((c) => (c.pretrain.maskProbability = 0.15))), []);
    assert.deepEqual(changed(withPretrain((c) => (c.teacher.examples += 32))), [...later]);
  });

  it('refuses a bad config with one line naming the field', () => {
    const cases: Array<[(c: EditableConfig) => void, RegExp]> = [
      [(c) => (c.batchSize = 33), /batchSize: must be a multiple of workers/],
      [(c) => (c.searchSpace.headChoices = [9]), /searchSpace.headChoices: 9 exceeds the supernet's 2/],
      [(c) => (c.teacher.optimizer.learningRate = -1), /teacher.optimizer.learningRate/],
      [(c) => (c.labels = ['only-one']), /labels/],
      [(c) => (c.unknown = true), /Unrecognized key/],
      [
        (c) =>
          (c.pretrain = { examples: 64, optimizer: { learningRate: 0.001 }, tokens: { choices: [128] } }),
        /pretrain.tokens.choices: 128 exceeds the supernet's 64/,
      ],
      [
        (c) =>
          (c.pretrain = {
            examples: 64,
            optimizer: { learningRate: 0.001 },
            tokens: { choices: [64] },
            evalEverySteps: 10,
          }),
        /pretrain: Unrecognized key/,
      ],
      [(c) => (c.width.priorWeight = 0.5), /width.priorWeight: needs a bowPrior section/],
      [(c) => (c.bowPrior = { tokens: 128 }), /bowPrior.tokens: 128 exceeds the supernet's 64/],
      [(c) => (c.depth.priorWeight = 1.5), /depth.priorWeight/],
    ];
    for (const [edit, message] of cases) {
      const json = structuredClone(tinyConfig) as EditableConfig;
      edit(json);
      assert.throws(
        () => parseTrainingConfig(json, 'x.json'),
        (e: unknown) => e instanceof ConfigError && message.test(e.message) && !e.message.includes('\n'),
      );
    }
    // Several problems are all named, on one line; a document that is no config at all is cut short.
    const two = structuredClone(tinyConfig) as EditableConfig;
    two.seed = 'x';
    two.depth.priorWeight = 1.5;
    assert.throws(
      () => parseTrainingConfig(two, 'x.json'),
      (e: unknown) =>
        e instanceof ConfigError &&
        /^config x\.json: seed: [^\n]+; depth\.priorWeight: [^\n]+$/.test(e.message),
    );
    assert.throws(
      () => parseTrainingConfig({}, 'empty.json'),
      (e: unknown) =>
        e instanceof ConfigError && /; and \d+ more$/.test(e.message) && !e.message.includes('\n'),
    );
  });
});

describe('data', () => {
  it('cleans HTML breaks and folds whitespace', () => {
    assert.equal(cleanReview('Great<br /><br />film.<BR>Really <i>good</i>  '), 'Great film. Really good');
  });

  it('splits by a salted hash: stable, disjoint, deduplicated, independent of input order', () => {
    const raw = Array.from({ length: 3000 }, (_, i) => ({
      text: `review number ${i % 2900} text`,
      label: i % 2,
    }));
    const a = splitExamples(raw, { splitSalt: 's', devFraction: 0.1, testFraction: 0.1 }, cleanReview);
    const b = splitExamples(
      [...raw].reverse(),
      { splitSalt: 's', devFraction: 0.1, testFraction: 0.1 },
      cleanReview,
    );
    assert.deepEqual(
      a.dev.map((e) => e.text),
      b.dev.map((e) => e.text).filter((t) => a.dev.some((e) => e.text === t)),
    );
    assert.equal(a.stats.duplicates, 100);
    const texts = [...a.train, ...a.dev, ...a.test].map((e) => e.text);
    assert.equal(new Set(texts).size, texts.length);
    assert.ok(a.dev.length > 200 && a.dev.length < 380, `dev ${a.dev.length}`);
    const other = splitExamples(
      raw,
      { splitSalt: 'other', devFraction: 0.1, testFraction: 0.1 },
      cleanReview,
    );
    assert.notDeepEqual(
      other.dev.map((e) => e.text),
      a.dev.map((e) => e.text),
    );
  });

  it('drops texts that appear with two labels', () => {
    const s = splitExamples(
      [
        { text: 'same', label: 0 },
        { text: 'same', label: 1 },
        { text: 'other', label: 1 },
      ],
      {
        splitSalt: 's',
        devFraction: 0.1,
        testFraction: 0.1,
      },
      cleanReview,
    );
    assert.equal(s.stats.conflicting, 1);
    assert.equal(s.train.length + s.dev.length + s.test.length, 1);
  });

  it('keeps pairs apart by both texts; a single text hashes as it always has', () => {
    const s = splitExamples(
      [
        { text: 'the question', textPair: 'one answer', label: 0 },
        { text: 'the question', textPair: 'another  answer', label: 1 },
        { text: 'the question', textPair: 'one answer', label: 0 },
      ],
      { splitSalt: 's', devFraction: 0.1, testFraction: 0.1 },
      foldWhitespace,
    );
    const all = [...s.train, ...s.dev, ...s.test];
    assert.equal(all.length, 2);
    assert.equal(s.stats.duplicates, 1);
    assert.deepEqual(all.map((e) => e.textPair).sort(), ['another answer', 'one answer']);
    assert.equal(
      exampleKey('salt', 'a text', undefined),
      createHash('sha256').update('salt').update('\0').update('a text').digest('hex'),
    );
    assert.notEqual(exampleKey('salt', 'a text', ''), exampleKey('salt', 'a text', undefined));
  });

  it('a files config: labels and numLabels may come from the data; a carved split needs its salt and fraction', () => {
    const { labels: _labels, ...rest } = structuredClone(tinyConfig);
    const files = {
      ...rest,
      architecture: { ...rest.architecture, numLabels: undefined },
      data: {
        source: 'files',
        train: 'data/train.csv.gz',
        test: 's3://bucket/test.jsonl',
        truncation: 'head',
      },
    };
    assert.throws(
      () => parseTrainingConfig(files, 'f.json'),
      /config f\.json: data\.splitSalt: needed to carve the dev split out of train \(no dev file\); data\.devFraction: needed/,
    );
    const parsed = parseTrainingConfig(
      { ...files, data: { ...files.data, splitSalt: 's', devFraction: 0.1 } },
      'f',
    );
    assert.equal(parsed.labels, undefined);
    assert.deepEqual(parsed.data.source === 'files' && parsed.data.fields, { text: 'text', label: 'label' });
    const settled = withLabels(parsed, ['a', 'b', 'c']);
    assert.equal(settled.architecture.numLabels, 3);
    // The examples' digest joins the run's: the same config on other data is another run.
    assert.notEqual(stageDigests(settled, 'aaaa').run, stageDigests(settled, 'bbbb').run);
    assert.throws(
      () => parseTrainingConfig({ ...files, data: { ...files.data, dev: 'dev.json' } }, 'f'),
      /data\.dev: must end in \.jsonl, \.ndjson, \.csv or \.tsv \(optionally \.gz\)/,
    );
  });

  it('batches are a function of the step: a resumed run reads the same rows', () => {
    const tokenizer = new WordPieceTokenizer(loadBertUncasedVocabulary());
    const examples = Array.from({ length: 50 }, (_, i) => ({
      pieces: Int32Array.from([1000 + i, 2000 + i]),
      label: i % 2,
    }));
    const one = new Batcher(examples, 8, 1, tokenizer, 'head-tail');
    const two = new Batcher(examples, 8, 1, tokenizer, 'head-tail');
    for (const step of [0, 3, 6, 7, 13]) assert.deepEqual(two.batchAt(step, 16), one.batchAt(step, 16));
    // Every example once per epoch.
    const seen = new Set<number>();
    for (let step = 0; step < 6; step++)
      for (const id of one.batchAt(step, 16).batch.ids) if (id >= 1000 && id < 2000) seen.add(id);
    assert.ok(seen.size >= 48);
  });

  it("carries each row's priors with its batch", () => {
    const tokenizer = new WordPieceTokenizer(loadBertUncasedVocabulary());
    const examples = Array.from({ length: 30 }, (_, i) => ({
      pieces: Int32Array.of(1000 + i),
      label: i % 2,
    }));
    // Example i's prior is (i / 100, 1 - i / 100): the row's token tells which example it is.
    const priors = Float32Array.from({ length: 60 }, (_, k) => (k % 2 === 0 ? k / 200 : 1 - (k - 1) / 200));
    const batcher = new Batcher(examples, 7, 3, tokenizer, 'head-tail', priors);
    for (const step of [0, 4, 9]) {
      const { batch, priors: rows } = batcher.batchAt(step, 8);
      assert.equal(rows?.length, 14);
      for (let r = 0; r < 7; r++) {
        const example = batch.ids[r * batch.tokens + 1]! - 1000;
        assert.ok(Math.abs(rows![r * 2]! - example / 100) < 1e-6, `step ${step} row ${r}`);
        assert.ok(Math.abs(rows![r * 2 + 1]! - (1 - example / 100)) < 1e-6);
      }
    }
    assert.equal(new Batcher(examples, 7, 3, tokenizer, 'head-tail').batchAt(0, 8).priors, undefined);
    assert.throws(
      () => new Batcher(examples, 7, 3, tokenizer, 'head-tail', new Float32Array(31)),
      /whole number/,
    );
  });

  it('bag-of-words regression with more than two labels: multinomial, with macro-F1 beside accuracy', () => {
    // Wordpiece 5 + k means label k; the rest is noise of each example's own.
    const make = (n: number, offset: number) =>
      Array.from({ length: n }, (_, i) => ({
        pieces: Int32Array.of(5 + (i % 3), 4000 + offset + i, 4000 + offset + i),
        label: i % 3,
      }));
    const [result] = bowBaseline(make(300, 0), make(60, 1000), make(60, 2000), [16], 3);
    assert.equal(result!.devAccuracy, 1);
    assert.equal(result!.testMacroF1, 1);
    const priors = crossFitBow(make(90, 0), 16, 4, 4, 3);
    assert.equal(priors.length, 270);
    for (let i = 0; i < 90; i++) {
      const row = Array.from(priors.subarray(i * 3, i * 3 + 3));
      assert.ok(Math.abs(row[0]! + row[1]! + row[2]! - 1) < 1e-5);
      assert.equal(row.indexOf(Math.max(...row)), i % 3);
    }
  });

  it('macro-F1 weighs every label alike: a model that never predicts the small label loses it', () => {
    const confusion = new Confusion(3);
    // 90 of label 0 all right; 10 of label 1 all predicted 0; label 2 absent and never predicted.
    for (let i = 0; i < 90; i++) confusion.add(0, 0);
    for (let i = 0; i < 10; i++) confusion.add(1, 0);
    assert.equal(confusion.accuracy(), 0.9);
    // F1 of label 0: 2*90 / (90 + 100); label 1: 0; label 2 left out.
    assert.ok(Math.abs(confusion.macroF1() - (180 / 190 + 0) / 2) < 1e-12);
  });

  it('cross-fits the bag-of-words prior: no example is scored by a model that saw its label', () => {
    // Wordpiece 5 means positive, 6 negative; every example also has a wordpiece of its own. Example 0 says 5
    // but is labelled negative: a model trained on it would lean negative on it, one that never saw it cannot.
    const examples = Array.from({ length: 200 }, (_, i) => ({
      pieces: Int32Array.of(i % 2 === 0 ? 5 : 6, 3000 + i, 3000 + i, 3000 + i),
      label: i === 0 ? 0 : i % 2 === 0 ? 1 : 0,
    }));
    const priors = crossFitBow(examples, 16, 4, 4, 2);
    assert.equal(priors.length, 400);
    for (let i = 0; i < 200; i++) assert.ok(Math.abs(priors[i * 2]! + priors[i * 2 + 1]! - 1) < 1e-6);
    assert.ok(priors[1]! > 0.8, `example 0 scored positive out of fold: ${priors[1]}`);
    let right = 0;
    for (let i = 1; i < 200; i++) if ((priors[i * 2 + 1]! > 0.5 ? 1 : 0) === examples[i]!.label) right++;
    assert.equal(right, 199);
  });
});

describe('optimizer', () => {
  it('AdamW matches a hand computation on one parameter', () => {
    const layout = {
      specs: [{ name: 'x.kernel', shape: [1], init: 'normal' }],
      offsets: [0],
      sizes: [1],
      total: 1,
      decays: () => true,
    } as unknown as FlatLayout;
    const params = Float32Array.from([1]);
    const state = createAdamState(1);
    adamwStep(params, Float32Array.from([0.5]), state, layout, {
      learningRate: 0.1,
      weightDecay: 0.01,
      clipNorm: 10,
    });
    // m = 0.05, v = 0.00025; bias-corrected m/sqrt(v) = 1; x = 1 * (1 - 0.001) - 0.1 * 1
    assert.ok(Math.abs(params[0]! - 0.899) < 1e-6, `${params[0]}`);
    const clipped = Float32Array.from([1]);
    const norm = adamwStep(clipped, Float32Array.from([100]), createAdamState(1), layout, {
      learningRate: 0.1,
      weightDecay: 0,
      clipNorm: 1,
    });
    assert.equal(norm, 100);
  });

  it('warms up linearly then decays to zero', () => {
    assert.ok(learningRateAt(0, 100, 1, 0.1) < learningRateAt(5, 100, 1, 0.1));
    assert.equal(learningRateAt(9, 100, 1, 0.1), 1);
    assert.ok(learningRateAt(99, 100, 1, 0.1) < 0.02);
  });
});

describe('checkpoints', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('round-trips arrays and refuses a checkpoint of another config', async () => {
    const params = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    await saveCheckpoint(
      dir,
      'stage',
      { configDigest: 'aaa', stage: 'stage', step: 7, totalSteps: 9, rngState: 3, extra: { best: 0.5 } },
      { params },
    );
    await saveCheckpoint(
      dir,
      'stage',
      { configDigest: 'aaa', stage: 'stage', step: 8, totalSteps: 9, rngState: 3, extra: {} },
      { params },
    );
    const loaded = await loadCheckpoint(dir, 'stage', 'aaa');
    assert.equal(loaded?.state.step, 8);
    assert.deepEqual(loaded?.arrays.get('params'), params);
    await assert.rejects(
      loadCheckpoint(dir, 'stage', 'bbb'),
      (e: unknown) => e instanceof CheckpointMismatchError && /config aaa/.test(e.message),
    );
    assert.equal(await loadCheckpoint(dir, 'missing', 'aaa'), undefined);
  });
});

describe('rewiring', () => {
  before(() => selectBackend('wasm'));

  it('keeps the full model exactly and moves the important units first', () => {
    const supernet = Supernet.create(TINY, { seed: 21 });
    const weights = supernet.readWeights();
    const rng = new Rng(1);
    const importance = {
      heads: Array.from({ length: TINY.maxLayers }, () =>
        Float32Array.from({ length: TINY.maxHeads }, () => rng.next()),
      ),
      neurons: Array.from({ length: TINY.maxLayers }, () =>
        Float32Array.from({ length: TINY.maxFfn }, () => rng.next()),
      ),
    };
    const rewired = Supernet.fromWeights(TINY, rewireWeights(TINY, weights, importance));
    const batch = randomBatch(TINY, rng, 3, 8);
    assert.ok(
      maxAbsDiff(rewired.predict(batch, largestSubnet(TINY)), supernet.predict(batch, largestSubnet(TINY))) <
        1e-5,
    );
    // The most important head of layer 0 is now head 0: its query columns moved.
    const best = importance.heads[0]!.indexOf(Math.max(...importance.heads[0]!));
    const before = weights.find((w) => w.name === 'layers.0.attention.query.kernel')!;
    const after = rewired.readWeights().find((w) => w.name === 'layers.0.attention.query.kernel')!;
    const width = TINY.maxHeads * TINY.headSize;
    for (let r = 0; r < TINY.hiddenSize; r++) {
      for (let j = 0; j < TINY.headSize; j++)
        assert.equal(after.data[r * width + j], before.data[r * width + best * TINY.headSize + j]);
    }
    supernet.dispose();
    rewired.dispose();
  });
});

describe('search', () => {
  const point = (tokens: number, heads: number): OperatingPoint => ({
    subnet: { layers: [{ layer: 0, heads, ffn: 8 }] },
    tokens,
  });
  const scored = (flops: number, devAccuracy: number, k: number): SearchPoint => {
    const p = point(10 + k, 1);
    return { id: formatOperatingPointId(p), ...p, params: 1, flops, referenceTokens: p.tokens, devAccuracy };
  };

  it('keeps only non-dominated points on the front, cheapest first', () => {
    const pts = [
      scored(1, 0.7, 0),
      scored(2, 0.69, 1),
      scored(3, 0.8, 2),
      scored(3, 0.75, 3),
      scored(5, 0.85, 4),
    ];
    assert.deepEqual(
      paretoFront(pts).map((p) => [p.flops, p.devAccuracy]),
      [
        [1, 0.7],
        [3, 0.8],
        [5, 0.85],
      ],
    );
  });

  it('keeps the points a noisy slice cannot tell from the front as catalog candidates', () => {
    const pts = [
      scored(1, 0.8, 0),
      scored(2, 0.795, 1),
      scored(3, 0.7, 2),
      scored(4, 0.85, 3),
      scored(5, 0.845, 4),
    ];
    // Within 0.01 of the best cheaper point: 2 (0.795 vs 0.8) and 5 (0.845 vs 0.85); 3 is far behind.
    assert.deepEqual(
      nearFront(pts, 0.01).map((p) => p.flops),
      [1, 2, 4, 5],
    );
    assert.deepEqual(
      nearFront(pts, 0).map((p) => p.flops),
      [1, 4],
    );
    assert.ok(Math.abs(standardError(0.86, 1500) - 0.00896) < 1e-4);
  });

  it('starts the catalog at the cheapest point that reaches the accuracy floor', () => {
    const pts = [
      scored(1, 0.8, 0),
      scored(2, 0.84, 1),
      scored(3, 0.86, 2),
      scored(4, 0.85, 3),
      scored(5, 0.88, 4),
    ];
    assert.deepEqual(
      catalogFront(pts, 0.85).map((p) => p.flops),
      [3, 5],
    );
    assert.deepEqual(
      catalogFront(pts, 0).map((p) => p.flops),
      [1, 2, 3, 5],
    );
    // Nothing reaches the floor: the most accurate point alone, rather than an empty catalog.
    assert.deepEqual(
      catalogFront(pts, 0.95).map((p) => p.flops),
      [5],
    );
  });

  it('spreads the catalog over log-cost and keeps both ends', () => {
    const front = Array.from({ length: 30 }, (_, i) => scored(2 ** (i / 3), 0.5 + i / 100, i));
    const chosen = spreadCatalog(front, 6);
    assert.equal(chosen.length, 6);
    assert.equal(chosen[0], front[0]);
    assert.equal(chosen[5], front[29]);
  });

  it('finds the front of a known accuracy landscape', async () => {
    const space = {
      depthChoices: [1, 2, 3],
      headChoices: [1, 2, 3, 4],
      ffnChoices: [8, 16],
      tokenChoices: [16, 32, 64],
    };
    const config = { ...TINY, maxLayers: 3, maxFfn: 16 };
    // Accuracy rises with log cost, with a penalty for odd head counts: the front avoids them.
    const cost = (p: OperatingPoint) =>
      p.subnet.layers.reduce((s, l) => s + l.heads * 10 + l.ffn, 0) * p.tokens;
    const accuracy = (p: OperatingPoint) =>
      Math.log(cost(p)) / 20 - (p.subnet.layers.some((l) => l.heads % 2 === 1) ? 0.05 : 0);
    const evaluated = await searchFront({
      space,
      config,
      rng: new Rng(3),
      population: 12,
      generations: 6,
      mutationRate: 0.3,
      cost: (p) => ({ params: 0, flops: cost(p), referenceTokens: p.tokens }),
      evaluate: async (p) => accuracy(p),
    });
    const front = paretoFront(evaluated);
    assert.ok(evaluated.length > 40);
    assert.ok(front.length >= 5);
    const top = front[front.length - 1]!;
    assert.deepEqual(
      top.subnet.layers.map((l) => l.heads),
      [4, 4, 4],
    );
  });

  it('spreads kept layers evenly', () => {
    assert.deepEqual(layersForDepth(4, 4), [0, 1, 2, 3]);
    assert.deepEqual(layersForDepth(2, 4), [0, 2]);
    assert.deepEqual(layersForDepth(1, 4), [0]);
  });
});
