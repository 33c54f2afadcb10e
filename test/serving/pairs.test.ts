import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildApp, type ServingApp } from '../../serving/app.ts';
import { publishSupernet } from '../../src/artifact/publish-supernet.ts';
import { OnnxEngine } from '../../src/engine/onnx-engine.ts';
import { parseOperatingPointId } from '../../src/model/config.ts';
import { sliceSubnetWeights } from '../../src/model/slice-subnet-weights.ts';
import type { TextPair } from '../../src/model/task.ts';
import { FileStore } from '../../src/storage/file-store.ts';
import { loadBertUncasedVocabulary, WordPieceTokenizer } from '../../src/tokenizer/index.ts';
import { randomSupernetWeights } from '../helpers/random-weights.ts';
import {
  FIXTURE_ARCH,
  FIXTURE_MODEL,
  fixtureFolder,
  fixturePublishOptions,
  LARGEST_POINT,
  LONG_TEXT,
  readyWithin,
  SMALLEST_POINT,
  testConfig,
} from './fixture.ts';

// biome-ignore lint/suspicious/noExplicitAny: responses are checked field by field
type Json = any;

const PAIR_MODEL = 'fixture-pairs';
const PAIR_ARCH = { ...FIXTURE_ARCH, typeVocabSize: 2 };
const PAIR_WEIGHTS = randomSupernetWeights(PAIR_ARCH, 5);
const LABELS = ['agree', 'disagree'];
const FIELDS = { text: 'review', textPair: 'other_review', label: 'agreement' };
const PAIRS: TextPair[] = [
  { text: 'A wonderful, moving film.', textPair: 'Dull plot and awful dialogue.' },
  { text: LONG_TEXT, textPair: `${LONG_TEXT} Still, too long by half.` },
  { text: 'Great.', textPair: LONG_TEXT },
];

// What the pair model answers for these pairs at an operating point, computed apart from the server: the
// tokenizer's own encoding of the whole texts, the subnet's weights sliced on the host, onnxruntime, a softmax.
async function expectedScores(pairs: readonly TextPair[], pointId: string): Promise<number[][]> {
  const point = parseOperatingPointId(pointId);
  const tokenizer = new WordPieceTokenizer(loadBertUncasedVocabulary());
  const batch = tokenizer.encodeBatch(pairs, { maxTokens: point.tokens, truncation: 'head-tail' });
  const loaded = await new OnnxEngine().load(
    PAIR_ARCH,
    point.subnet,
    sliceSubnetWeights(PAIR_ARCH, PAIR_WEIGHTS, point.subnet),
  );
  const logits = await loaded.run(batch);
  await loaded.dispose();
  return pairs.map((_, r) => {
    const row = [logits[2 * r]!, logits[2 * r + 1]!];
    const max = Math.max(...row);
    const exp = row.map((v) => Math.exp(v - max));
    return exp.map((v) => v / (exp[0]! + exp[1]!));
  });
}

function assertProblem(response: { statusCode: number; json(): Json }, status: number, code: string): Json {
  assert.equal(response.statusCode, status, JSON.stringify(response.json()));
  const body = response.json();
  assert.equal(body.code, code);
  return body;
}

describe('serving a text-pair model', () => {
  let app: ServingApp;
  let single: ServingApp;
  const cleanups: Array<() => Promise<void>> = [];

  // Builds the app over a model root and waits until it is ready.
  async function serve(modelRoot: string): Promise<ServingApp> {
    const served = await buildApp({ config: testConfig(modelRoot) });
    cleanups.unshift(() => served.close());
    await served.ready();
    await readyWithin(served);
    return served;
  }

  before(async () => {
    const root = await mkdtemp(join(tmpdir(), 'serving-pairs-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    await publishSupernet(new FileStore(root), {
      ...fixturePublishOptions('v1'),
      model: PAIR_MODEL,
      architecture: PAIR_ARCH,
      weights: PAIR_WEIGHTS,
      labels: LABELS,
      task: { input: 'pair', fields: FIELDS },
    });
    app = await serve(join(root, PAIR_MODEL));
    const { modelRoot } = await fixtureFolder({ after: (fn) => cleanups.push(fn) });
    single = await serve(modelRoot);
  });

  after(async () => {
    for (const fn of cleanups) await fn();
  });

  it('answers {"text", "text_pair"} inputs with what the tokenizer and engine give offline', async () => {
    for (const point of [LARGEST_POINT, SMALLEST_POINT]) {
      const response = await app.inject({
        method: 'POST',
        url: `/v1/models/${PAIR_MODEL}/predict`,
        headers: { 'subnet-id': point },
        payload: { inputs: PAIRS.map((p) => ({ text: p.text, text_pair: p.textPair })) },
      });
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json();
      assert.equal(body.subnet.id, point);
      const expected = await expectedScores(PAIRS, point);
      body.outputs.forEach((output: Json, r: number) => {
        assert.deepEqual(Object.keys(output.scores), LABELS);
        LABELS.forEach((label, j) => {
          assert.ok(
            Math.abs(output.scores[label] - expected[r]![j]!) < 1e-4,
            `${point} pair ${r} ${label}: ${output.scores[label]} vs ${expected[r]![j]}`,
          );
        });
      });
    }
    // The order of the texts matters (token types): swapping them changes the answer.
    const [ab, ba] = await Promise.all(
      [PAIRS[0]!, { text: PAIRS[0]!.textPair, textPair: PAIRS[0]!.text }].map(async (p) =>
        (
          await app.inject({
            method: 'POST',
            url: `/v1/models/${PAIR_MODEL}/predict`,
            headers: { 'subnet-id': LARGEST_POINT },
            payload: { inputs: [{ text: p.text, text_pair: p.textPair }] },
          })
        ).json(),
      ),
    );
    assert.notEqual(ab.outputs[0].scores.agree, ba.outputs[0].scores.agree);
  });

  it('refuses the wrong kind of input with 400 WRONG_INPUT_KIND naming what the model takes', async () => {
    const asString = await app.inject({
      method: 'POST',
      url: `/v1/models/${PAIR_MODEL}/predict`,
      payload: { inputs: [{ text: 'a', text_pair: 'b' }, 'just one text'] },
    });
    const problem = assertProblem(asString, 400, 'WRONG_INPUT_KIND');
    assert.match(
      problem.detail,
      /classifies text pairs: each input is \{"text": "...", "text_pair": "..."\}; input 1/,
    );
    const asPair = await single.inject({
      method: 'POST',
      url: `/v1/models/${FIXTURE_MODEL}/predict`,
      payload: { inputs: [{ text: 'a', text_pair: 'b' }] },
    });
    assert.match(
      assertProblem(asPair, 400, 'WRONG_INPUT_KIND').detail,
      /classifies single texts: each input is a string; input 0/,
    );
    // A half pair is malformed, whatever the model.
    const half = await app.inject({
      method: 'POST',
      url: `/v1/models/${PAIR_MODEL}/predict`,
      payload: { inputs: [{ text: 'a' }] },
    });
    assertProblem(half, 400, 'INVALID_REQUEST');
  });

  it('says the task kind, labels and fields in GET /v1/models/{model}', async () => {
    const pair = (await app.inject({ url: `/v1/models/${PAIR_MODEL}` })).json();
    assert.deepEqual(pair.task, { input: 'pair', labels: LABELS, fields: FIELDS });
    const text = (await single.inject({ url: `/v1/models/${FIXTURE_MODEL}` })).json();
    assert.deepEqual(text.task, { input: 'single', labels: ['negative', 'positive'] });
  });

  it('takes a pair as two BYTES inputs, text and text_pair, on the Open Inference Protocol', async () => {
    const metadata = (await app.inject({ url: `/v2/models/${PAIR_MODEL}` })).json();
    assert.deepEqual(metadata.inputs, [
      { name: 'text', datatype: 'BYTES', shape: [-1] },
      { name: 'text_pair', datatype: 'BYTES', shape: [-1] },
    ]);
    const infer = (inputs: Json[]) =>
      app.inject({
        method: 'POST',
        url: `/v2/models/${PAIR_MODEL}/infer`,
        payload: { parameters: { subnet_id: LARGEST_POINT }, inputs },
      });
    const n = PAIRS.length;
    // Either order of the two tensors.
    const response = await infer([
      { name: 'text_pair', shape: [n], datatype: 'BYTES', data: PAIRS.map((p) => p.textPair) },
      { name: 'text', shape: [n], datatype: 'BYTES', data: PAIRS.map((p) => p.text) },
    ]);
    assert.equal(response.statusCode, 200, response.body);
    const scores = response.json().outputs[1];
    assert.deepEqual(scores.shape, [n, 2]);
    const expected = await expectedScores(PAIRS, LARGEST_POINT);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < 2; j++) assert.ok(Math.abs(scores.data[2 * r + j] - expected[r]![j]!) < 1e-4);
    }
    const one = await infer([{ name: 'text', shape: [1], datatype: 'BYTES', data: ['only one'] }]);
    assert.match(
      assertProblem(one, 400, 'WRONG_INPUT_KIND').detail,
      /two BYTES inputs named text and text_pair, got 1/,
    );
    const uneven = await infer([
      { name: 'text', shape: [2], datatype: 'BYTES', data: ['a', 'b'] },
      { name: 'text_pair', shape: [1], datatype: 'BYTES', data: ['c'] },
    ]);
    assertProblem(uneven, 400, 'INVALID_REQUEST');
    const two = await single.inject({
      method: 'POST',
      url: `/v2/models/${FIXTURE_MODEL}/infer`,
      payload: {
        inputs: [
          { name: 'text', shape: [1], datatype: 'BYTES', data: ['a'] },
          { name: 'text_pair', shape: [1], datatype: 'BYTES', data: ['b'] },
        ],
      },
    });
    assert.match(assertProblem(two, 400, 'WRONG_INPUT_KIND').detail, /classifies single texts/);
  });

  it('describes both kinds of input in OpenAPI', async () => {
    const doc = (await app.inject({ url: '/docs/json' })).json();
    const inputs =
      doc.paths['/v1/models/{model}/predict'].post.requestBody.content['application/json'].schema.properties
        .inputs;
    const kinds = JSON.stringify(inputs.items);
    assert.match(kinds, /"type":"string"/);
    assert.match(kinds, /"text_pair"/);
    assert.match(inputs.description, /text_pair/);
  });
});
