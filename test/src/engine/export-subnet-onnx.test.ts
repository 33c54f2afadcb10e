import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { exportOnnxCli } from '../../../scripts/export-onnx.ts';
import { publishSupernet } from '../../../src/artifact/publish-supernet.ts';
import { selectBackend } from '../../../src/backend/select-backend.ts';
import { ONNX_OPSET } from '../../../src/engine/build-onnx-graph.ts';
import { exportSubnetOnnx } from '../../../src/engine/export-subnet-onnx.ts';
import { TfjsEngine } from '../../../src/engine/tfjs-engine.ts';
import { ModelError } from '../../../src/errors.ts';
import { parseSubnetId, type SubnetConfig } from '../../../src/model/config.ts';
import { Rng } from '../../../src/model/random.ts';
import { sliceSubnetWeights } from '../../../src/model/slice-subnet-weights.ts';
import type { TokenBatch } from '../../../src/model/token-batch.ts';
import { FileStore } from '../../../src/storage/file-store.ts';
import { importCheckpoint } from '../../../training/import-checkpoint.ts';
import { BERT_TINY, bertTinyReference } from '../../helpers/bert-tiny.ts';
import { randomSupernetWeights } from '../../helpers/random-weights.ts';
import { maxAbsDiff, randomBatch, TINY } from '../../helpers/tiny-model.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const weights = randomSupernetWeights(TINY, 21);

// Runs an exported model file with onnxruntime-node, straight from disk.
async function runFile(path: string, batch: TokenBatch): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path);
  const shape = [batch.batch, batch.tokens];
  const out = await session.run({
    input_ids: new ort.Tensor('int32', batch.ids, shape),
    attention_mask: new ort.Tensor('int32', batch.mask, shape),
  });
  await session.release();
  return out.logits!.data as Float32Array;
}

// The tfjs engine's logits for the same subnet: the reference.
async function reference(subnet: SubnetConfig, batch: TokenBatch): Promise<Float32Array> {
  const loaded = await new TfjsEngine().load(TINY, subnet, sliceSubnetWeights(TINY, weights, subnet));
  const logits = await loaded.run(batch);
  await loaded.dispose();
  return logits;
}

describe('ONNX export', () => {
  let folder: string;

  after(() => rm(folder, { recursive: true, force: true }));

  before(async () => {
    await selectBackend('wasm');
    folder = await mkdtemp(join(tmpdir(), 'export-onnx-'));
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', ...Array.from({ length: 46 }, (_, i) => `w${i}`)];
    await publishSupernet(new FileStore(join(folder, 'artifacts')), {
      model: 'tiny',
      version: 'v1',
      architecture: TINY,
      tokenizer: {
        kind: 'wordpiece',
        lowercase: true,
        stripAccents: true,
        maxTokens: TINY.maxTokens,
        truncation: 'head-tail',
        specialTokens: { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]' },
      },
      labels: ['negative', 'positive'],
      weights,
      vocabText: `${vocab.join('\n')}\n`,
      catalog: [],
      provenance: { data: 'random', splitSeed: '0', recipe: {}, commit: 'test' },
    });
  });

  it('writes a standard opset-20 model with dynamic batch and tokens, and the subnet id in its metadata', () => {
    const subnet = parseSubnetId('0h2f9.2h4f24');
    const model = onnxProto.onnx.ModelProto.decode(
      exportSubnetOnnx(TINY, weights, subnet, { model: 'tiny' }),
    );
    assert.deepEqual(
      model.opsetImport.map((o) => [o.domain, Number(o.version)]),
      [['', ONNX_OPSET]],
    );
    const graph = model.graph!;
    const nodes = graph.node!;
    assert.ok(
      nodes.every((n) => !n.domain),
      'standard operators only',
    );
    assert.ok(nodes.some((n) => n.opType === 'Gelu'));
    const dims = (v: onnxProto.onnx.IValueInfoProto) =>
      v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    assert.deepEqual(graph.input!.map(dims), [
      ['batch', 'tokens'],
      ['batch', 'tokens'],
    ]);
    assert.deepEqual(graph.output!.map(dims), [['batch', 2]]);
    assert.deepEqual(Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value])), {
      model: 'tiny',
      subnet_id: '0h2f9.2h4f24',
      precision: 'fp32',
      form: 'plain',
    });
    assert.deepEqual(
      graph.input!.map((i) => i.name),
      ['input_ids', 'attention_mask'],
    );
    // A pair model takes token types as a third input.
    const pairConfig = { ...TINY, typeVocabSize: 2 };
    const pair = onnxProto.onnx.ModelProto.decode(
      exportSubnetOnnx(pairConfig, randomSupernetWeights(pairConfig, 22), subnet),
    );
    assert.deepEqual(
      pair.graph!.input!.map((i) => [i.name, ...dims(i)]),
      [
        ['input_ids', 'batch', 'tokens'],
        ['attention_mask', 'batch', 'tokens'],
        ['token_type_ids', 'batch', 'tokens'],
      ],
    );
  });

  it('exports through the CLI a file that onnxruntime runs to the tfjs engine logits', async () => {
    const rng = new Rng(22);
    for (const id of ['0h4f24.1h4f24.2h4f24', '1h1f3', '0h2f9.2h4f24-t8']) {
      const out = join(folder, `${id}.onnx`);
      const lines: string[] = [];
      const code = await exportOnnxCli(
        [join(folder, 'artifacts', 'tiny'), id, out],
        {},
        {
          out: (l) => lines.push(l),
          err: (l) => lines.push(l),
        },
      );
      assert.equal(code, 0, lines.join('\n'));
      assert.match(lines[0]!, /^wrote .* tiny\/v1 subnet /);
      const subnet = parseSubnetId(id.replace(/-t\d+$/, ''));
      const batch = randomBatch(TINY, rng, 3, 10);
      const diff = maxAbsDiff(await runFile(out, batch), await reference(subnet, batch));
      assert.ok(diff < 1e-4, `${id}: ${diff}`);
      const model = onnxProto.onnx.ModelProto.decode(await readFile(out));
      assert.equal(model.metadataProps.find((p) => p.key === 'labels')?.value, '["negative","positive"]');
    }
  });

  it('exports an int8 operating point as an int8 file, its logits near the fp32 ones', async () => {
    const out = join(folder, 'int8.onnx');
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    const code = await exportOnnxCli(
      [join(folder, 'artifacts', 'tiny'), '0h4f24.1h4f24.2h4f24-t8-int8', out],
      {},
      io,
    );
    assert.equal(code, 0, lines.join('\n'));
    assert.match(lines[0]!, /\(int8\)/);
    const model = onnxProto.onnx.ModelProto.decode(await readFile(out));
    assert.equal(model.metadataProps.find((p) => p.key === 'precision')?.value, 'int8');
    assert.equal(model.graph!.node!.filter((n) => n.opType === 'MatMulInteger').length, 18);
    const batch = randomBatch(TINY, new Rng(23), 3, 10);
    const diff = maxAbsDiff(
      await runFile(out, batch),
      await reference(parseSubnetId('0h4f24.1h4f24.2h4f24'), batch),
    );
    assert.ok(diff < 0.05 && diff > 0, `${diff}`);
  });

  it("exports an imported BERT checkpoint whose file computes the checkpoint's logits, token types included", async () => {
    const root = join(folder, 'imported');
    await importCheckpoint(new FileStore(BERT_TINY), new FileStore(root), {
      model: 'bert-tiny',
      version: 'v1',
    });
    const out = join(folder, 'bert-tiny.onnx');
    const lines: string[] = [];
    const code = await exportOnnxCli(
      [join(root, 'bert-tiny'), '0h4f64.1h4f64-t64', out],
      {},
      {
        out: (l) => lines.push(l),
        err: (l) => lines.push(l),
      },
    );
    assert.equal(code, 0, lines.join('\n'));
    const session = await ort.InferenceSession.create(out);
    for (const c of await bertTinyReference()) {
      const shape = [1, c.ids.length];
      const result = await session.run({
        input_ids: new ort.Tensor('int32', Int32Array.from(c.ids), shape),
        attention_mask: new ort.Tensor('int32', new Int32Array(c.ids.length).fill(1), shape),
        token_type_ids: new ort.Tensor('int32', Int32Array.from(c.types), shape),
      });
      const diff = maxAbsDiff(result.logits!.data as Float32Array, c.logits);
      assert.ok(diff < 1e-4, `${c.text}: ${diff}`);
    }
    await session.release();
  });

  it('refuses bad arguments with one line and exit code 2', async () => {
    const artifact = join(folder, 'artifacts', 'tiny');
    const cases: Array<[string[], RegExp]> = [
      [[], /expected three arguments/],
      [[artifact, '0h1f1'], /expected three arguments/],
      [[artifact, '0h1f1', 'out.onnx', 'extra'], /too many arguments/],
      [[artifact, '0h1f1', 'out.txt'], /must end in \.onnx/],
      [[artifact, 'zero', join(folder, 'x.onnx')], /INVALID_SUBNET_ID/],
      [[artifact, '0h9f1', join(folder, 'x.onnx')], /SUBNET_OUT_OF_RANGE/],
      [[join(folder, 'nowhere'), '0h1f1', join(folder, 'x.onnx')], /ARTIFACT_NOT_FOUND/],
      [['ftp://host/x', '0h1f1', join(folder, 'x.onnx')], /INVALID_STORAGE_URI/],
    ];
    for (const [argv, message] of cases) {
      const errors: string[] = [];
      const code = await exportOnnxCli(argv, {}, { out: () => {}, err: (l) => errors.push(l) });
      assert.equal(code, 2, `${argv.join(' ')}: ${errors.join(' | ')}`);
      assert.equal(errors.length, 1);
      assert.match(errors[0]!, message);
      assert.ok(!errors[0]!.includes('\n'));
    }
  });

  it('exits with code 2 as a process, through npm run export', () => {
    const result = spawnSync(
      'npm',
      ['run', '--silent', 'export', '--', join(folder, 'nowhere'), '0h1f1', 'x.onnx'],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr.trim().split('\n').at(-1)!, /^export-onnx: ARTIFACT_NOT_FOUND: /);
  });

  it('refuses a subnet the supernet does not have before building anything', () => {
    assert.throws(
      () => exportSubnetOnnx(TINY, weights, { layers: [{ layer: 3, heads: 1, ffn: 1 }] }),
      (e: unknown) => e instanceof ModelError && e.code === 'SUBNET_OUT_OF_RANGE',
    );
  });
});
