import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readSupernet } from '../../src/artifact/read-supernet.ts';
import { OnnxEngine } from '../../src/engine/onnx-engine.ts';
import { largestSubnet } from '../../src/model/config.ts';
import { sliceSubnetWeights } from '../../src/model/slice-subnet-weights.ts';
import { FileStore } from '../../src/storage/file-store.ts';
import { Vocabulary } from '../../src/tokenizer/vocabulary.ts';
import { WordPieceTokenizer } from '../../src/tokenizer/word-piece-tokenizer.ts';
import { modelNameFromUri } from '../../training/import-checkpoint.ts';
import { main, parseImportArgs } from '../../training/import-cli.ts';
import { BERT_TINY, bertTinyReference } from '../helpers/bert-tiny.ts';
import { maxAbsDiff } from '../helpers/tiny-model.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'import-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// Runs the CLI, capturing what it prints.
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  try {
    return { code: await main(argv), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

describe('npm run import', () => {
  it('publishes a BERT checkpoint whose artifact computes the checkpoint’s own logits', async (t) => {
    const out = await tempDir(t);
    const result = await run([
      '--checkpoint',
      BERT_TINY,
      '--out',
      out,
      '--model',
      'bert-tiny-nli',
      '--tokens',
      '48',
      '--input',
      'pair',
    ]);
    assert.equal(result.code, 0, result.err);
    assert.match(
      result.out,
      /imported .* as bert-tiny-nli version \S+ .*labels contradiction, entailment, neutral/,
    );

    const loaded = await readSupernet(new FileStore(out), { model: 'bert-tiny-nli' });
    const { manifest } = loaded;
    assert.equal(manifest.architecture.form, 'bert');
    assert.equal(manifest.architecture.typeVocabSize, 2);
    assert.deepEqual(manifest.labels, ['contradiction', 'entailment', 'neutral']);
    assert.equal(manifest.tokenizer.maxTokens, 48);
    assert.equal(manifest.tokenizer.lowercase, true);
    assert.equal(manifest.catalog.length, 1);
    assert.equal(manifest.catalog[0]!.id, '0h4f64.1h4f64-t48');
    assert.equal(manifest.catalog[0]!.devAccuracy, null);
    assert.deepEqual(manifest.task, { input: 'pair' });

    // The published weights, run by the ONNX engine on the reference's ids, give PyTorch's logits.
    const config = manifest.architecture;
    const subnet = largestSubnet(config);
    const engine = new OnnxEngine();
    const model = await engine.load(
      config,
      subnet,
      sliceSubnetWeights(config, [...loaded.weights.values()], subnet),
    );
    const tokenizer = new WordPieceTokenizer(Vocabulary.parse(loaded.vocabText), {
      lowercase: manifest.tokenizer.lowercase,
      stripAccents: manifest.tokenizer.stripAccents,
    });
    for (const c of await bertTinyReference()) {
      assert.deepEqual(
        [...tokenizer.encode(c.text)],
        c.ids.slice(1, c.text_pair === undefined ? -1 : c.types.indexOf(1) - 1),
      );
      const n = c.ids.length;
      const logits = await model.run({
        batch: 1,
        tokens: n,
        ids: Int32Array.from(c.ids),
        mask: new Int32Array(n).fill(1),
        typeIds: Int32Array.from(c.types),
      });
      assert.ok(maxAbsDiff(logits, c.logits) < 1e-4, `${c.text}: ${maxAbsDiff(logits, c.logits)}`);
    }
    await model.dispose();
  });

  it('names the model after the checkpoint folder, and takes --labels', async (t) => {
    const out = await tempDir(t);
    const result = await run(['--checkpoint', BERT_TINY, '--out', out, '--labels', 'no,yes,maybe']);
    assert.equal(result.code, 0, result.err);
    const loaded = await readSupernet(new FileStore(out), { model: 'bert-tiny' });
    assert.deepEqual(loaded.manifest.labels, ['no', 'yes', 'maybe']);
    assert.equal(loaded.manifest.tokenizer.maxTokens, 64);
    assert.equal(modelNameFromUri('s3://bucket/hub/BERT_base.SST-2/'), 'bert-base-sst-2');
  });

  it('refuses bad input in one line naming the option or the file', async (t) => {
    const out = await tempDir(t);
    const cases: Array<[string[], number, RegExp]> = [
      [['--out', out], 2, /^error: --checkpoint <folder\|s3:\/\/bucket\/prefix> is required/],
      [['--checkpoint', BERT_TINY, '--out', out, '--tokens', '1000'], 1, /--tokens 1000: must be 2 to .* 64/],
      [['--checkpoint', BERT_TINY, '--out', out, '--tokens', 'x'], 2, /^error: --tokens: /],
      [
        ['--checkpoint', BERT_TINY, '--out', out, '--labels', 'a,b'],
        1,
        /--labels names 2 labels, the checkpoint's classifier has 3/,
      ],
      [['--checkpoint', BERT_TINY, '--out', out, '--model', 'Bad Name'], 2, /^error: --model: must match/],
      [['--checkpoint', join(out, 'nowhere'), '--out', out], 1, /config\.json: not found/],
      [['--checkpoint', BERT_TINY, '--out', out, '--frobnicate'], 2, /^error: Unknown option '--frobnicate'/],
    ];
    for (const [argv, code, pattern] of cases) {
      const result = await run(argv);
      assert.equal(result.code, code, `${argv.join(' ')}: ${result.err}`);
      assert.match(result.err.split('\n')[0]!, pattern);
    }
    assert.throws(
      () => parseImportArgs(['--checkpoint', 'x', '--out', 'y', '--weight-dtype', 'int4']),
      /--weight-dtype/,
    );
  });
});
