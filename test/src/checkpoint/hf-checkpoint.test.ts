import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readHfCheckpoint } from '../../../src/checkpoint/hf-checkpoint.ts';
import { encodeSafetensors, readSafetensors } from '../../../src/checkpoint/safetensors.ts';
import { CheckpointError } from '../../../src/errors.ts';
import { FileStore } from '../../../src/storage/file-store.ts';
import { Vocabulary } from '../../../src/tokenizer/vocabulary.ts';
import { WordPieceTokenizer } from '../../../src/tokenizer/word-piece-tokenizer.ts';
import { BERT_TINY, bertTinyReference } from '../../helpers/bert-tiny.ts';

// A copy of the fixture in a temp folder, changed by `edit`.
async function variant(
  t: { after: (fn: () => Promise<void>) => void },
  edit: (dir: string) => Promise<void>,
) {
  const dir = await mkdtemp(join(tmpdir(), 'bert-variant-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(BERT_TINY, dir, { recursive: true });
  await edit(dir);
  return dir;
}

async function refusal(dir: string): Promise<string> {
  try {
    await readHfCheckpoint(new FileStore(dir));
  } catch (error) {
    assert.ok(error instanceof CheckpointError, `expected a CheckpointError, got ${error}`);
    assert.doesNotMatch(error.message, /\n/);
    return error.message;
  }
  assert.fail('the checkpoint was accepted');
}

// Rewrites model.safetensors with tensors renamed, dropped or replaced.
async function rewriteWeights(dir: string, change: (name: string) => string | null): Promise<void> {
  const path = join(dir, 'model.safetensors');
  const bytes = await readFile(path);
  const { header, tensors } = await readSafetensors(
    (await import('node:stream')).Readable.from([bytes]),
    bytes.length,
    path,
  );
  const out = [];
  for (const e of header.entries) {
    const name = change(e.name);
    if (name !== null)
      out.push({ name, dtype: 'F32' as const, shape: e.shape, data: tensors.get(e.name)!.data });
  }
  await writeFile(path, Buffer.concat(encodeSafetensors(out)));
}

describe('Hugging Face BERT checkpoints', () => {
  it('maps a BertForSequenceClassification folder to the supernet names, kernels transposed', async () => {
    const checkpoint = await readHfCheckpoint(new FileStore(BERT_TINY));
    assert.deepEqual(checkpoint.architecture, {
      vocabSize: 109,
      hiddenSize: 32,
      maxTokens: 64,
      maxLayers: 2,
      maxHeads: 4,
      headSize: 8,
      maxFfn: 64,
      numLabels: 3,
      typeVocabSize: 2,
      layerNormEps: 1e-12,
    });
    assert.deepEqual(checkpoint.labels, ['contradiction', 'entailment', 'neutral']);
    assert.equal(checkpoint.hasClassifier, true);
    assert.equal(checkpoint.lowercase, true);
    assert.equal(checkpoint.stripAccents, true);
    const byName = new Map(checkpoint.weights.map((w) => [w.name, w]));
    assert.deepEqual(byName.get('layers.1.ffn.input.kernel')!.shape, [32, 64]);
    assert.deepEqual(byName.get('classifier.kernel')!.shape, [32, 3]);
    assert.equal(byName.has('final.norm.gamma'), false);
    // A kernel is the transposed Linear weight: kernel[i][o] = weight[o][i].
    const bytes = await readFile(join(BERT_TINY, 'model.safetensors'));
    const { tensors } = await readSafetensors(
      (await import('node:stream')).Readable.from([bytes]),
      bytes.length,
      'model.safetensors',
    );
    const weight = tensors.get('bert.encoder.layer.1.intermediate.dense.weight')!; // [64, 32]
    const kernel = byName.get('layers.1.ffn.input.kernel')!.data; // [32, 64]
    for (const [i, o] of [
      [0, 0],
      [3, 17],
      [31, 63],
    ] as const) {
      assert.equal(kernel[i * 64 + o], weight.data[o * 32 + i]);
    }
    assert.equal(checkpoint.weights.length, 7 + 2 * 16 + 2);
  });

  it("tokenizes the reference texts to the ids BERT's own tokenizer rules give", async () => {
    const checkpoint = await readHfCheckpoint(new FileStore(BERT_TINY));
    const tokenizer = new WordPieceTokenizer(Vocabulary.parse(checkpoint.vocabText), {
      lowercase: checkpoint.lowercase,
      stripAccents: checkpoint.stripAccents,
    });
    for (const c of await bertTinyReference()) {
      const expected =
        c.text_pair === undefined ? c.ids.slice(1, -1) : c.ids.slice(1, c.types.indexOf(1) - 1);
      assert.deepEqual([...tokenizer.encode(c.text)], expected, c.text);
    }
  });

  it('reads the prefix-less, older LayerNorm.gamma naming, and a bare encoder without a classifier', async (t) => {
    const dir = await variant(t, (d) =>
      rewriteWeights(d, (name) =>
        name.startsWith('classifier.')
          ? null
          : name
              .replace(/^bert\./, '')
              .replace(/LayerNorm\.weight$/, 'LayerNorm.gamma')
              .replace(/LayerNorm\.bias$/, 'LayerNorm.beta'),
      ),
    );
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    delete config.id2label;
    delete config.label2id;
    config.architectures = ['BertModel'];
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    const checkpoint = await readHfCheckpoint(new FileStore(dir));
    assert.equal(checkpoint.hasClassifier, false);
    assert.equal(checkpoint.labels, undefined);
    assert.equal(checkpoint.weights.length, 7 + 2 * 16);
    assert.ok(checkpoint.weights.some((w) => w.name === 'layers.0.attention.norm.gamma'));
  });

  it('refuses what it cannot run, in one line naming the file and the tensor or field', async (t) => {
    const configEdit = (edit: (c: Record<string, unknown>) => void) =>
      variant(t, async (d) => {
        const c = JSON.parse(await readFile(join(d, 'config.json'), 'utf8'));
        edit(c);
        await writeFile(join(d, 'config.json'), JSON.stringify(c));
      });
    assert.match(
      await refusal(await variant(t, (d) => rm(join(d, 'model.safetensors')))),
      /model\.safetensors: not found/,
    );
    assert.match(
      await refusal(
        await variant(t, (d) =>
          rewriteWeights(d, (n) => (n.includes('layer.1.output.dense.weight') ? null : n)),
        ),
      ),
      /model\.safetensors: tensor 'encoder\.layer\.1\.output\.dense\.weight' is missing/,
    );
    assert.match(
      await refusal(await configEdit((c) => (c.intermediate_size = 48))),
      /tensor 'bert\.encoder\.layer\.0\.intermediate\.dense\.weight' has shape \[64,32\] \(transposed \[32,64\]\), config\.json implies \[32,48\]/,
    );
    assert.match(
      await refusal(await configEdit((c) => (c.model_type = 'gpt2'))),
      /config\.json: model_type "gpt2" is not supported/,
    );
    assert.match(
      await refusal(await configEdit((c) => (c.architectures = ['BertForQuestionAnswering']))),
      /architecture BertForQuestionAnswering is not supported/,
    );
    assert.match(
      await refusal(await configEdit((c) => (c.hidden_act = 'relu'))),
      /hidden_act "relu" is not supported/,
    );
    assert.match(
      await refusal(await configEdit((c) => (c.hidden_size = 'big'))),
      /config\.json: hidden_size: /,
    );
    assert.match(
      await refusal(await configEdit((c) => (c.id2label = { 0: 'a', 2: 'b' }))),
      /id2label has no id 1/,
    );
    assert.match(
      await refusal(await configEdit((c) => (c.id2label = { 0: 'a', 1: 'b' }))),
      /tensor 'classifier\.weight' has 3 rows, config\.json's id2label 2 labels/,
    );
    assert.match(
      await refusal(await variant(t, (d) => writeFile(join(d, 'config.json'), '{ not json'))),
      /config\.json: not JSON/,
    );
    assert.match(
      await refusal(await variant(t, (d) => writeFile(join(d, 'vocab.txt'), '[PAD]\n[PAD]\n'))),
      /vocab\.txt: /,
    );
  });
});
