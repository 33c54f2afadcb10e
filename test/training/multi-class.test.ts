import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { type ReutersStory, reutersR8 } from '../../scripts/make-reuters-r8.ts';
import r8Config from '../../training/configs/reuters-r8.json' with { type: 'json' };
import tinyConfig from '../../training/configs/tiny.json' with { type: 'json' };
import { runTrainingCli as train } from '../helpers/run-training-cli.ts';
import { readyApp, testConfig } from '../serving/fixture.ts';

// A multi-class task from the user's files, end to end: Reuters-21578 stories (R8: the 8 most common single
// topics) as JSON Lines -> the training CLI with labels from the data -> a published artifact -> answers over the
// real serving app, with 8 labels through training, the catalog, /v1 and the Open Inference Protocol.

const TOPICS = ['acq', 'crude', 'earn', 'interest', 'money-fx', 'ship', 'sugar', 'trade'];

// A balanced slice: per topic, the first `perTopic` stories of the package's train side and `testPerTopic` of
// its test side, cut to their first 600 characters.
function slice(stories: ReutersStory[], perTopic: number, testPerTopic: number) {
  const take = (test: boolean, n: number) =>
    TOPICS.flatMap((topic) => stories.filter((s) => s.test === test && s.label === topic).slice(0, n));
  const jsonl = (rows: ReutersStory[]) =>
    rows.map((s) => `${JSON.stringify({ text: s.text.slice(0, 600), label: s.label })}\n`).join('');
  return { train: jsonl(take(false, perTopic)), test: jsonl(take(true, testPerTopic)) };
}

describe('a multi-class task from files (Reuters R8)', () => {
  let dir: string;
  let stories: ReutersStory[];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'r8-'));
    stories = await reutersR8();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  // The documented R8 config at a test's size: its data section pointed at the temporary files.
  const config = (data: Record<string, unknown>) => ({
    ...r8Config,
    architecture: { ...tinyConfig.architecture, numLabels: undefined },
    embeddings: { glove: false },
    data: { ...r8Config.data, ...data },
    teacher: { ...tinyConfig.teacher, examples: 1600, tokens: { choices: [64] } },
    rewire: tinyConfig.rewire,
    width: { ...tinyConfig.width, examples: 256 },
    depth: { ...tinyConfig.depth, examples: 256 },
    searchSpace: tinyConfig.searchSpace,
    search: { ...tinyConfig.search, population: 4, generations: 0, catalogSize: { min: 2, max: 4 } },
  });

  it('the package holds R8 as the config expects it', () => {
    const counts = new Map<string, number>();
    for (const s of stories) counts.set(s.label, (counts.get(s.label) ?? 0) + 1);
    assert.deepEqual([...counts.keys()].sort(), TOPICS);
    assert.equal(stories.length, 7309);
    assert.equal(counts.get('earn'), 3735);
    assert.equal(stories.filter((s) => s.test).length, 2168);
  });

  it('trains with labels from the data, publishes, and serves 8 labels over /v1 and /v2', {
    timeout: 600_000,
  }, async (t) => {
    const files = slice(stories, 48, 10);
    await writeFile(join(dir, 'train.jsonl'), files.train);
    await writeFile(join(dir, 'test.jsonl.gz'), gzipSync(files.test));
    const configFile = join(dir, 'r8.json');
    await writeFile(
      configFile,
      JSON.stringify(
        config({
          train: join(dir, 'train.jsonl'),
          test: `file://${join(dir, 'test.jsonl.gz')}`,
          devFraction: 0.2,
        }),
      ),
    );
    const out = join(dir, 'out');
    const run = await train(['--config', configFile, '--out', out, '--checkpoints', join(dir, 'ckpt')]);
    assert.equal(run.code, 0, run.stderr);
    // The progress output gives each split's class balance.
    assert.match(run.stderr, /8 labels from the data/);
    assert.match(run.stderr, /train class balance: (\w[\w-]* \d+ \(\d+\.\d%\)(, )?){8}/);
    assert.match(run.stderr, /test class balance: acq 10 \(12\.5%\)/);
    assert.match(run.stderr, /reference: bag-of-words logistic regression at 64 tokens: .*macro-F1/);

    const version = (await readFile(join(out, 'reuters-r8', 'LATEST'), 'utf8')).trim();
    const manifest = JSON.parse(await readFile(join(out, 'reuters-r8', version, 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.labels, TOPICS);
    assert.equal(manifest.architecture.numLabels, 8);
    assert.equal(manifest.provenance.classBalance.test.earn, 10);
    assert.equal(Object.keys(manifest.provenance.classBalance.train).length, 8);
    assert.match(manifest.provenance.data, /train: .*train\.jsonl; dev: .*\(devFraction 0\.2 of it/);
    for (const entry of manifest.catalog) {
      assert.ok(
        entry.devMacroF1 >= 0 && entry.devMacroF1 <= 1 && entry.testMacroF1 >= 0,
        JSON.stringify(entry),
      );
    }
    // Learned something: better than a constant answer (12.5% of the balanced test split) at its best point.
    const best = Math.max(...manifest.catalog.map((e: { testAccuracy: number }) => e.testAccuracy));
    assert.ok(best > 0.3, `best test accuracy ${best}`);

    const app = await readyApp(t, testConfig(join(out, 'reuters-r8')));
    const described = (await app.inject({ url: '/v1/models/reuters-r8' })).json() as {
      labels: string[];
      catalog: Array<{ devAccuracy: number; devMacroF1: number | null; testMacroF1: number | null }>;
    };
    assert.deepEqual(described.labels, TOPICS);
    assert.ok(
      described.catalog.every((p) => typeof p.devMacroF1 === 'number' && typeof p.testMacroF1 === 'number'),
    );
    const texts = [
      'OPEC OIL OUTPUT RISES\nCrude oil production by OPEC members rose in March, with Saudi Arabia pumping more barrels a day.',
      'XYZ CORP 1ST QTR NET\nShr 25 cts vs 20 cts. Net 1.2 mln dlrs vs 900,000. Revs 12.5 mln vs 10.1 mln.',
    ];
    const predicted = await app.inject({
      method: 'POST',
      url: '/v1/models/reuters-r8/predict',
      payload: { inputs: texts },
    });
    assert.equal(predicted.statusCode, 200, predicted.body);
    const outputs = (
      predicted.json() as { outputs: Array<{ label: string; scores: Record<string, number> }> }
    ).outputs;
    for (const output of outputs) {
      assert.deepEqual(Object.keys(output.scores).sort(), TOPICS);
      const sum = Object.values(output.scores).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-4, `scores sum to ${sum}`);
      assert.equal(output.label, Object.entries(output.scores).sort((a, b) => b[1] - a[1])[0]![0]);
    }
    const inferred = await app.inject({
      method: 'POST',
      url: '/v2/models/reuters-r8/infer',
      payload: { inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: texts }] },
    });
    assert.equal(inferred.statusCode, 200, inferred.body);
    const body = inferred.json() as { outputs: Array<{ name: string; shape: number[]; data: unknown[] }> };
    const scores = body.outputs.find((o) => o.name === 'scores')!;
    assert.deepEqual(scores.shape, [2, 8]);
    const labels = body.outputs.find((o) => o.name === 'label')!;
    assert.deepEqual(
      labels.data,
      outputs.map((o) => o.label),
    );
  });

  it('refuses bad data before anything trains: one line, exit 2, nothing published, no checkpoints', {
    timeout: 120_000,
  }, async () => {
    const files = slice(stories, 12, 2);
    const cases: Array<[string, string, RegExp]> = [
      [
        'unknown.jsonl',
        files.test.replace('"label":"ship"', '"label":"shipping"'),
        /^error: data .*unknown\.jsonl: line 11: unknown label "shipping" \(the training data's labels are "acq", .*\)\n$/,
      ],
      ['broken.jsonl', `${files.test}{"text": "cut`, /^error: data .*broken\.jsonl: line 17: malformed JSON/],
      [
        'no-sugar.jsonl',
        files.test
          .split('\n')
          .filter((l) => !l.includes('"label":"sugar"'))
          .join('\n'),
        /^error: data .*no-sugar\.jsonl: the test split has no example of the label "sugar" \(/,
      ],
    ];
    await writeFile(join(dir, 'small-train.jsonl'), files.train);
    for (const [name, content, expected] of cases) {
      await writeFile(join(dir, name), content);
      const configFile = join(dir, `${name}.json`);
      await writeFile(
        configFile,
        JSON.stringify(
          config({ train: join(dir, 'small-train.jsonl'), test: join(dir, name), devFraction: 0.4 }),
        ),
      );
      const out = join(dir, `out-${name}`);
      const checkpoints = join(dir, `ckpt-${name}`);
      const run = await train(['--config', configFile, '--out', out, '--checkpoints', checkpoints]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, expected);
      await assert.rejects(readdir(out), { code: 'ENOENT' });
      await assert.rejects(readdir(checkpoints), { code: 'ENOENT' });
    }
    const missing = join(dir, 'missing.json');
    await writeFile(missing, JSON.stringify(config({ train: join(dir, 'absent.jsonl'), devFraction: 0.2 })));
    const run = await train(['--config', missing, '--out', join(dir, 'out-missing')]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: data .*absent\.jsonl: cannot read: .*\n$/);
  });
});
