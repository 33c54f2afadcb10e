import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ReviewPair, writeImdbPairs } from '../../scripts/make-imdb-pairs.ts';
import { readSupernet } from '../../src/artifact/read-supernet.ts';
import { OnnxEngine } from '../../src/engine/onnx-engine.ts';
import { sliceSubnetWeights } from '../../src/model/slice-subnet-weights.ts';
import { FileStore } from '../../src/storage/file-store.ts';
import { loadBertUncasedVocabulary, WordPieceTokenizer } from '../../src/tokenizer/index.ts';
import pairsConfig from '../../training/configs/imdb-pairs.json' with { type: 'json' };
import tinyConfig from '../../training/configs/tiny.json' with { type: 'json' };
import { runTrainingCli as train } from '../helpers/run-training-cli.ts';
import { readyApp, testConfig } from '../serving/fixture.ts';

// A sentence-pair task end to end: pairs of IMDB review openings labelled by whether their sentiments agree, as
// JSON Lines -> the training CLI (token-type embeddings, pairs packed [CLS] a [SEP] b [SEP]) -> a published
// artifact that records the task -> answers over the real serving app that equal the published model run apart.

const LABELS = ['agree', 'disagree'];
const FIELDS = { text: 'text', textPair: 'text_pair', label: 'label' };

async function readPairs(path: string): Promise<ReviewPair[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ReviewPair);
}

describe('a sentence-pair task from files (IMDB review openings: do their sentiments agree?)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imdb-pairs-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes pairs of real review openings, balanced, no review in two splits', async () => {
    const written = await writeImdbPairs(join(dir, 'data'), {
      train: 400,
      dev: 96,
      test: 96,
      words: 20,
      seed: 3,
    });
    assert.deepEqual(written, { train: 400, dev: 96, test: 96 });
    const splits = await Promise.all(
      ['train', 'dev', 'test'].map((s) => readPairs(join(dir, 'data', `${s}.jsonl`))),
    );
    const agree = splits[0]!.filter((p) => p.label === 'agree').length;
    assert.ok(agree > 150 && agree < 250, `${agree} of 400 agree`);
    const reviews = splits.map((pairs) => new Set(pairs.flatMap((p) => [p.text, p.text_pair])));
    for (const review of reviews[1]!) assert.ok(!reviews[0]!.has(review) && !reviews[2]!.has(review));
    assert.ok(splits[0]!.every((p) => p.text.split(' ').length <= 20 && p.text !== p.text_pair));
  });

  it('trains a tiny pair config, publishes the task, and serves pairs as training measured them', {
    timeout: 900_000,
  }, async (t) => {
    const data = join(dir, 'data');
    const config = {
      ...pairsConfig,
      model: 'imdb-pairs-tiny',
      architecture: { ...tinyConfig.architecture, numLabels: undefined, typeVocabSize: 2 },
      embeddings: { glove: false },
      data: {
        ...pairsConfig.data,
        train: join(data, 'train.jsonl'),
        dev: join(data, 'dev.jsonl'),
        test: `file://${join(data, 'test.jsonl')}`,
      },
      teacher: { ...tinyConfig.teacher, examples: 800, tokens: { choices: [48] } },
      rewire: { examples: 64, tokens: 48 },
      width: { ...tinyConfig.width, examples: 128, tokens: { choices: [32, 48] } },
      depth: { ...tinyConfig.depth, examples: 128, tokens: { choices: [32, 48] } },
      searchSpace: { ...tinyConfig.searchSpace, tokenChoices: [32, 48] },
      search: {
        ...tinyConfig.search,
        devExamples: 64,
        population: 4,
        generations: 0,
        catalogSize: { min: 2, max: 3 },
        latencyTokens: 48,
      },
    };
    const configFile = join(dir, 'pairs.json');
    await writeFile(configFile, JSON.stringify(config));
    const out = join(dir, 'out');
    const run = await train(['--config', configFile, '--out', out, '--checkpoints', join(dir, 'ckpt')]);
    assert.equal(run.code, 0, run.stderr);

    // The artifact records the task and carries the token-type table.
    const store = new FileStore(out);
    const published = await readSupernet(store, { model: 'imdb-pairs-tiny' });
    const { manifest } = published;
    assert.equal(manifest.formatVersion, 2);
    assert.deepEqual(manifest.task, { input: 'pair', fields: FIELDS });
    assert.deepEqual(manifest.labels, LABELS);
    assert.equal(manifest.architecture.typeVocabSize, 2);
    assert.deepEqual(published.weights.get('embeddings.type')?.shape, [
      2,
      tinyConfig.architecture.hiddenSize,
    ]);
    assert.ok(manifest.catalog.length >= 1);

    // The search measured each point on dev with the pair packing: recomputed here, apart from training, with the
    // tokenizer's own encoding of the whole texts, the catalog's dev accuracy comes out (a near-tie may flip one).
    const dev = await readPairs(join(data, 'dev.jsonl'));
    const tokenizer = new WordPieceTokenizer(loadBertUncasedVocabulary());
    const engine = new OnnxEngine();
    const arch = manifest.architecture;
    const entry = manifest.catalog[0]!;
    const loaded = await engine.load(
      arch,
      entry.subnet,
      sliceSubnetWeights(arch, published.weights, entry.subnet),
    );
    const batch = tokenizer.encodeBatch(
      dev.map((p) => ({ text: p.text, textPair: p.text_pair })),
      { maxTokens: entry.tokens, truncation: 'head-tail' },
    );
    const logits = await loaded.run(batch);
    await loaded.dispose();
    let correct = 0;
    dev.forEach((p, r) => {
      const predicted = logits[2 * r]! >= logits[2 * r + 1]! ? 'agree' : 'disagree';
      if (predicted === p.label) correct++;
    });
    assert.ok(Math.abs(correct - entry.devAccuracy! * dev.length) <= 1, `${correct} vs ${entry.devAccuracy}`);

    // Served over HTTP: pairs in, the task described, the same scores as the published model run apart.
    const app = await readyApp(t, testConfig(join(out, 'imdb-pairs-tiny')));
    const described = (await app.inject({ url: '/v1/models/imdb-pairs-tiny' })).json();
    assert.deepEqual(described.task, { input: 'pair', labels: LABELS, fields: FIELDS });
    const pairs = dev.slice(0, 4);
    const answer = await app.inject({
      method: 'POST',
      url: '/v1/models/imdb-pairs-tiny/predict',
      headers: { 'subnet-id': entry.id },
      payload: { inputs: pairs.map((p) => ({ text: p.text, text_pair: p.text_pair })) },
    });
    assert.equal(answer.statusCode, 200, answer.body);
    const outputs = answer.json().outputs as Array<{ label: string; scores: Record<string, number> }>;
    outputs.forEach((output, r) => {
      const [a, b] = [logits[2 * r]!, logits[2 * r + 1]!];
      const agree = 1 / (1 + Math.exp(b - a));
      assert.ok(
        Math.abs(output.scores.agree! - agree) < 1e-4,
        `pair ${r}: ${output.scores.agree} vs ${agree}`,
      );
      assert.equal(output.label, agree >= 0.5 ? 'agree' : 'disagree');
    });
    const wrong = await app.inject({
      method: 'POST',
      url: '/v1/models/imdb-pairs-tiny/predict',
      payload: { inputs: ['one review alone'] },
    });
    assert.equal(wrong.statusCode, 400);
    assert.equal(wrong.json().code, 'WRONG_INPUT_KIND');
  });
});
