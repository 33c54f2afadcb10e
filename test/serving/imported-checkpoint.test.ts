import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileStore } from '../../src/storage/file-store.ts';
import { importCheckpoint } from '../../training/import-checkpoint.ts';
import { BERT_TINY, bertTinyReference } from '../helpers/bert-tiny.ts';
import { readyApp, testConfig } from './fixture.ts';

function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exp = logits.map((l) => Math.exp(l - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((e) => e / sum);
}

// A Hugging Face checkpoint imported with `npm run import` and served by the default server answers with the
// class probabilities the checkpoint itself gives (PyTorch's, computed independently), text to answer. The
// fixture is an NLI-style pair classifier; single texts are checked against the same reference in
// test/training/import-checkpoint.test.ts and test/src/model/bert-form.test.ts.
describe('an imported BERT checkpoint, served', () => {
  for (const engine of ['onnx', 'tfjs'] as const) {
    it(`answers text pairs with the checkpoint's own probabilities (${engine} engine)`, async (t) => {
      const root = await mkdtemp(join(tmpdir(), 'imported-'));
      t.after(() => rm(root, { recursive: true, force: true }));
      await importCheckpoint(new FileStore(BERT_TINY), new FileStore(root), {
        model: 'bert-tiny',
        version: 'v1',
        input: 'pair',
      });
      const app = await readyApp(
        t,
        testConfig(join(root, 'bert-tiny'), { ENGINE: engine, TFJS_BACKEND: 'wasm' }),
      );

      const described = (await app.inject({ url: '/v1/models/bert-tiny' })).json() as {
        labels: string[];
        catalog: Array<{ id: string; devAccuracy: number | null }>;
      };
      assert.deepEqual(described.labels, ['contradiction', 'entailment', 'neutral']);
      assert.deepEqual(
        described.catalog.map((p) => [p.id, p.devAccuracy]),
        [['0h4f64.1h4f64-t64', null]],
      );

      const pairs = (await bertTinyReference()).filter((c) => c.text_pair !== undefined);
      const response = await app.inject({
        method: 'POST',
        url: '/v1/models/bert-tiny/predict',
        payload: { inputs: pairs.map((c) => ({ text: c.text, text_pair: c.text_pair })) },
      });
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json() as {
        subnet: { accuracy: number | null };
        outputs: Array<{ label: string; scores: Record<string, number> }>;
      };
      assert.equal(body.subnet.accuracy, null);
      pairs.forEach((c, i) => {
        const expected = softmax(c.logits);
        const got = described.labels.map((l) => body.outputs[i]!.scores[l]!);
        for (let j = 0; j < expected.length; j++) {
          assert.ok(Math.abs(got[j]! - expected[j]!) < 1e-4, `${c.text}: ${got} against ${expected}`);
        }
      });

      // A single text for this pair model is refused, naming what it takes.
      const single = await app.inject({
        method: 'POST',
        url: '/v1/models/bert-tiny/predict',
        payload: { inputs: ['only one text'] },
      });
      assert.equal(single.statusCode, 400, single.body);
      assert.match(single.body, /text_pair/);

      // An accuracy floor cannot be met by a point whose accuracy is unknown: strict refuses, best-effort says so.
      const floor = await app.inject({
        method: 'POST',
        url: '/v1/models/bert-tiny/predict',
        headers: { 'min-accuracy': '0.5' },
        payload: { inputs: [{ text: pairs[0]!.text, text_pair: pairs[0]!.text_pair }] },
      });
      assert.equal(floor.statusCode, 200, floor.body);
      assert.equal((floor.json() as { budget: { met: boolean } }).budget.met, false);
      const strict = await app.inject({
        method: 'POST',
        url: '/v1/models/bert-tiny/predict',
        headers: { 'min-accuracy': '0.5', 'budget-mode': 'strict' },
        payload: { inputs: [{ text: pairs[0]!.text, text_pair: pairs[0]!.text_pair }] },
      });
      assert.equal(strict.statusCode, 422, strict.body);
    });
  }
});
