import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readSupernet } from '../../src/artifact/read-supernet.ts';
import { readHfCheckpoint } from '../../src/checkpoint/hf-checkpoint.ts';
import { FileStore } from '../../src/storage/file-store.ts';
import { BERT_TINY } from '../helpers/bert-tiny.ts';
import { runTrainingCli } from '../helpers/run-training-cli.ts';

// Pairs of short sentences in the tiny checkpoint's vocabulary, labelled by a rule a model can learn: whether
// the second says where the first's subject is (entailment), says the opposite (contradiction), or says
// something else (neutral).
function nliRows(count: number, seed: number): string {
  const subjects = ['the man', 'the woman', 'the dog', 'the cat'];
  const places = ['outside', 'inside'];
  const other = ['is good', 'is bad', 'was boring', 'is very good'];
  const rows: string[] = [];
  let x = seed;
  const next = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  for (let i = 0; i < count; i++) {
    const subject = subjects[next(subjects.length)]!;
    const place = places[next(2)]!;
    const kind = next(3);
    const hypothesis =
      kind === 0
        ? `${subject} is ${place}`
        : kind === 1
          ? `${subject} is ${places[1 - places.indexOf(place)]}`
          : `${subject} ${other[next(other.length)]}`;
    const label = ['entailment', 'contradiction', 'neutral'][kind]!;
    rows.push(JSON.stringify({ premise: `${subject} sleeps ${place}.`, hypothesis, label }));
  }
  return `${rows.join('\n')}\n`;
}

async function writeConfig(dir: string, overrides: Record<string, unknown> = {}): Promise<string> {
  for (const [split, count, seed] of [
    ['train', 320, 1],
    ['dev', 64, 2],
    ['test', 64, 3],
  ] as const) {
    await writeFile(join(dir, `${split}.jsonl`), nliRows(count, seed));
  }
  const stage = (examples: number, lr: number) => ({
    examples,
    optimizer: { learningRate: lr, warmupFraction: 0.1, weightDecay: 0.01, clipNorm: 1 },
    tokens: { choices: [24] },
    evalEverySteps: 0,
  });
  const distill = { temperature: 1, softWeight: 1, hardWeight: 0.5, hiddenWeight: 1, randomSubnets: 1 };
  const config = {
    model: 'nli-tiny',
    seed: 3,
    init: { checkpoint: BERT_TINY },
    architecture: {
      vocabSize: 109,
      hiddenSize: 32,
      maxTokens: 64,
      maxLayers: 2,
      maxHeads: 4,
      headSize: 8,
      maxFfn: 64,
      typeVocabSize: 2,
      layerNormEps: 1e-12,
      form: 'bert',
    },
    labels: ['contradiction', 'entailment', 'neutral'],
    data: {
      source: 'files',
      train: join(dir, 'train.jsonl'),
      dev: join(dir, 'dev.jsonl'),
      test: join(dir, 'test.jsonl'),
      fields: { text: 'premise', textPair: 'hypothesis', label: 'label' },
      truncation: 'head-tail',
    },
    embeddings: { glove: false },
    batchSize: 16,
    workers: 2,
    teacher: { ...stage(640, 0.003), labelSmoothing: 0 },
    rewire: { examples: 64, tokens: 24 },
    width: { ...stage(320, 0.001), ...distill, widthChoices: [1, 0.5] },
    depth: { ...stage(320, 0.001), ...distill },
    searchSpace: { depthChoices: [1, 2], headChoices: [2, 4], ffnChoices: [32, 64], tokenChoices: [16, 24] },
    search: {
      devExamples: 64,
      population: 6,
      generations: 1,
      mutationRate: 0.3,
      catalogSize: { min: 2, max: 6 },
      latencyTokens: 24,
    },
    publish: { weightDtype: 'float32' },
    ...overrides,
  };
  const path = join(dir, 'nli-tiny.json');
  await writeFile(path, JSON.stringify(config));
  return path;
}

describe('training from a pretrained checkpoint (init.checkpoint)', () => {
  it('runs the DynaBERT stages on a BERT checkpoint and publishes a pair model of the BERT form', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'train-init-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const config = await writeConfig(dir);
    const out = join(dir, 'models');
    const run = await runTrainingCli([
      '--config',
      config,
      '--out',
      out,
      '--checkpoints',
      join(dir, 'checkpoints'),
      '--quiet',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const { manifest, vocabText, weights } = await readSupernet(new FileStore(out), { model: 'nli-tiny' });
    assert.equal(manifest.architecture.form, 'bert');
    assert.equal(manifest.task?.input, 'pair');
    assert.equal(weights.has('final.norm.gamma'), false);
    // The checkpoint's own vocabulary and casing, not bert-base-uncased's.
    assert.equal(vocabText, await readFile(join(BERT_TINY, 'vocab.txt'), 'utf8'));
    assert.equal(manifest.tokenizer.lowercase, true);
    assert.ok(manifest.catalog.length >= 2, `catalog of ${manifest.catalog.length}`);
    // The rule is learnable: the best point is well above a third on held-out data.
    const best = Math.max(...manifest.catalog.map((c) => c.devAccuracy ?? 0));
    assert.ok(best > 0.6, `best dev accuracy ${best}`);
    // It started from the checkpoint: the token-type embeddings (little touched by a few steps) are still close
    // to the checkpoint's, far closer than two random initializations would be.
    const checkpoint = await readHfCheckpoint(new FileStore(BERT_TINY));
    const start = checkpoint.weights.find((w) => w.name === 'embeddings.position')!.data;
    const end = weights.get('embeddings.position')!.data;
    let moved = 0;
    let size = 0;
    for (let i = 0; i < start.length; i++) {
      moved += (end[i]! - start[i]!) ** 2;
      size += start[i]! ** 2;
    }
    assert.ok(moved < 0.1 * size, `position embeddings moved ${Math.sqrt(moved / size)} of their norm`);
  });

  it('refuses an architecture that is not the checkpoint’s, in one line, before writing anything', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'train-init-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const wrong = await writeConfig(dir, {
      architecture: {
        vocabSize: 109,
        hiddenSize: 32,
        maxTokens: 64,
        maxLayers: 3,
        maxHeads: 4,
        headSize: 8,
        maxFfn: 64,
        typeVocabSize: 2,
        layerNormEps: 1e-12,
        form: 'bert',
      },
      searchSpace: {
        depthChoices: [1, 2],
        headChoices: [2, 4],
        ffnChoices: [32, 64],
        tokenChoices: [16, 24],
      },
    });
    const run = await runTrainingCli([
      '--config',
      wrong,
      '--out',
      join(dir, 'models'),
      '--checkpoints',
      join(dir, 'ck'),
    ]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /architecture\.maxLayers 3 \(the checkpoint's is 2\)/);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    const preLn = await writeConfig(dir, { embeddings: { glove: true } });
    const refused = await runTrainingCli(['--config', preLn, '--out', join(dir, 'models')]);
    assert.match(refused.stderr, /embeddings\.glove: must be false when starting from a checkpoint/);
  });
});
