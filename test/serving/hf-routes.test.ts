import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  request as hfRequest,
  InferenceClient,
  InferenceClientProviderApiError,
  setLogger,
} from '@huggingface/inference';
import type { ServingApp } from '../../serving/app.ts';
import { publishSupernet } from '../../src/artifact/publish-supernet.ts';
import { FileStore } from '../../src/storage/file-store.ts';
import { randomSupernetWeights } from '../helpers/random-weights.ts';
import {
  FIXTURE_ARCH,
  FIXTURE_MODEL,
  fixtureFolder,
  fixturePublishOptions,
  LARGEST_POINT,
  LONG_TEXT,
  readyApp,
  SMALLEST_POINT,
  testConfig,
} from './fixture.ts';

// biome-ignore lint/suspicious/noExplicitAny: responses are checked field by field
type Json = any;

// What one fetch of the client sent and got.
interface Exchange {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Json;
  status: number;
  responseHeaders: Headers;
}

const PAIR_MODEL = 'fixture-pairs';
const TEXTS = ['A wonderful film, moving and funny.', 'Dull, slow and far too long.', LONG_TEXT];

// The app over the fixture, listening on 127.0.0.1; every fetch of the process is recorded while the test runs,
// and one to any other address fails the test instead of leaving the machine.
async function serve(t: TestContext, env: Record<string, string> = {}, root?: string) {
  const modelRoot = root ?? (await fixtureFolder(t)).modelRoot;
  const app: ServingApp = await readyApp(t, testConfig(modelRoot, env));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const exchanges: Exchange[] = [];
  const elsewhere: string[] = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    if (!url.startsWith(`${base}/`)) {
      elsewhere.push(url);
      throw new Error(`the test allows no fetch outside ${base}: ${url}`);
    }
    const response = await realFetch(input, init);
    exchanges.push({
      url,
      method: init?.method ?? 'GET',
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : init?.body,
      status: response.status,
      responseHeaders: response.headers,
    });
    return response;
  };
  t.after(() => {
    globalThis.fetch = realFetch;
    assert.deepEqual(elsewhere, [], 'no fetch left the machine');
  });
  const model = root === undefined ? FIXTURE_MODEL : PAIR_MODEL;
  return { app, base, exchanges, endpointUrl: `${base}/models/${model}` };
}

// The app over a text-pair model (labels agree, disagree), listening on 127.0.0.1 with the same fetch guard.
async function servePairs(t: TestContext) {
  const root = await mkdtemp(join(tmpdir(), 'hf-pairs-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const arch = { ...FIXTURE_ARCH, typeVocabSize: 2 };
  await publishSupernet(new FileStore(root), {
    ...fixturePublishOptions('v1'),
    model: PAIR_MODEL,
    architecture: arch,
    weights: randomSupernetWeights(arch, 5),
    labels: ['agree', 'disagree'],
    task: { input: 'pair', fields: { text: 'review', textPair: 'other_review', label: 'agreement' } },
  });
  return serve(t, {}, join(root, PAIR_MODEL));
}

// The v1 answer for texts on one pinned operating point: each text's probability per label.
async function v1Scores(
  base: string,
  texts: Json[],
  subnet: string,
  model = FIXTURE_MODEL,
): Promise<Record<string, number>[]> {
  const response = await fetch(`${base}/v1/models/${model}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'subnet-id': subnet },
    body: JSON.stringify({ inputs: texts }),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as Json).outputs.map((o: Json) => o.scores);
}

function assertRanked(answer: Json, expected: Record<string, number>, tolerance = 1e-6): void {
  assert.ok(Array.isArray(answer));
  assert.deepEqual(answer.map((s: Json) => s.label).sort(), Object.keys(expected).sort());
  for (let i = 1; i < answer.length; i++)
    assert.ok(answer[i - 1].score >= answer[i].score, 'sorted by score');
  for (const { label, score } of answer) {
    assert.ok(Math.abs(score - expected[label]!) < tolerance, `${label}: ${score} vs ${expected[label]}`);
  }
}

describe("Hugging Face's text-classification shape, through @huggingface/inference over HTTP", () => {
  it('classifies a text with the real client: [[{label, score}, ...]] on the wire, every label, highest first', async (t) => {
    const { base, exchanges, endpointUrl } = await serve(t);
    const client = new InferenceClient();
    const [expected] = await v1Scores(base, [TEXTS[0]!], LARGEST_POINT);
    exchanges.length = 0;

    const answer = await client.textClassification({
      endpointUrl,
      inputs: TEXTS[0]!,
      parameters: { subnet_id: LARGEST_POINT },
    });
    assertRanked(answer, expected!);

    // What the client sent and what came back on the wire.
    assert.equal(exchanges.length, 1);
    const [exchange] = exchanges;
    assert.equal(exchange!.url, endpointUrl);
    assert.equal(exchange!.method, 'POST');
    assert.equal(exchange!.headers['content-type'], 'application/json');
    assert.match(exchange!.headers['user-agent']!, /^@huggingface\/inference\/4\./);
    assert.equal(exchange!.headers.authorization, undefined);
    assert.deepEqual(exchange!.body, { inputs: TEXTS[0], parameters: { subnet_id: LARGEST_POINT } });
    assert.equal(exchange!.status, 200);
    assert.equal(exchange!.responseHeaders.get('subnet-id'), LARGEST_POINT);
    assert.equal(exchange!.responseHeaders.get('budget-met'), 'true');
    assert.match(
      exchange!.responseHeaders.get('server-timing')!,
      /^queue;dur=[\d.]+, inference;dur=[\d.]+, total;dur=[\d.]+$/,
    );
  });

  it('classifies a batch: one list per text, each as the text alone gets it', async (t) => {
    const { base, endpointUrl, exchanges } = await serve(t);
    const expected = await v1Scores(base, TEXTS, SMALLEST_POINT);
    const previous = console;
    setLogger({ ...console, warn: () => {} });
    t.after(() => setLogger(previous));

    // The client's raw request answers the whole body; textClassification answers the first text's list.
    const answer: Json = await hfRequest(
      { endpointUrl, inputs: TEXTS, parameters: { subnet_id: SMALLEST_POINT } },
      { task: 'text-classification' },
    );
    assert.equal(answer.length, TEXTS.length);
    for (let i = 0; i < TEXTS.length; i++) assertRanked(answer[i], expected[i]!, 1e-5);
    const first = await new InferenceClient().textClassification({
      endpointUrl,
      inputs: TEXTS as unknown as string,
      parameters: { subnet_id: SMALLEST_POINT },
    });
    assertRanked(first, expected[0]!, 1e-5);
    assert.deepEqual(exchanges.at(-1)!.body.inputs, TEXTS);
  });

  it('honours top_k and function_to_apply (softmax, sigmoid, none: the raw logits)', async (t) => {
    const { endpointUrl } = await serve(t);
    const client = new InferenceClient();
    const classify = (parameters: Record<string, unknown>) =>
      client.textClassification({
        endpointUrl,
        inputs: TEXTS[1]!,
        parameters: { subnet_id: LARGEST_POINT, ...parameters },
      });
    const all = await classify({});
    const top = await classify({ top_k: 1 });
    assert.deepEqual(top, all.slice(0, 1));
    assert.deepEqual(await classify({ top_k: 5 }), all);
    assert.deepEqual(await classify({ function_to_apply: 'softmax' }), all);

    const logits = Object.fromEntries(
      (await classify({ function_to_apply: 'none' })).map((s) => [s.label, s.score]),
    );
    const sigmoid = await classify({ function_to_apply: 'sigmoid' });
    for (const { label, score } of sigmoid) {
      assert.ok(Math.abs(score - 1 / (1 + Math.exp(-logits[label]!))) < 1e-6);
    }
    // Softmax of the logits is the default answer; the logits are not probabilities.
    const max = Math.max(...Object.values(logits));
    const sum = Object.values(logits).reduce((acc, v) => acc + Math.exp(v - max), 0);
    for (const { label, score } of all) {
      assert.ok(Math.abs(score - Math.exp(logits[label]! - max) / sum) < 1e-6);
    }
    assert.notEqual(
      Object.values(logits)
        .reduce((a, b) => a + b, 0)
        .toFixed(6),
      '1.000000',
      'raw logits, not probabilities',
    );
  });

  it('takes budgets in parameters or headers and says which point served and whether the budget was met', async (t) => {
    const { base, endpointUrl, exchanges } = await serve(t);
    const client = new InferenceClient();
    // Only the largest point reaches 0.85 dev accuracy.
    await client.textClassification({
      endpointUrl,
      inputs: TEXTS[0]!,
      parameters: { min_accuracy: 0.85, latency_budget_ms: 100_000, budget_mode: 'strict' },
    });
    assert.equal(exchanges.at(-1)!.responseHeaders.get('subnet-id'), LARGEST_POINT);
    assert.equal(exchanges.at(-1)!.responseHeaders.get('budget-met'), 'true');

    // A memory budget no point fits, best effort: served by the closest fit, and said so.
    await client.textClassification({
      endpointUrl,
      inputs: TEXTS[0]!,
      parameters: { memory_budget_mb: 0.001 },
    });
    assert.equal(exchanges.at(-1)!.responseHeaders.get('budget-met'), 'false');

    // The same budget as a header, through plain fetch.
    const viaHeader = await fetch(endpointUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Subnet-Id': SMALLEST_POINT },
      body: JSON.stringify({ inputs: 'fine' }),
    });
    assert.equal(viaHeader.status, 200);
    assert.equal(viaHeader.headers.get('subnet-id'), SMALLEST_POINT);
    assert.equal(((await viaHeader.json()) as Json)[0].length, 2);
    assert.ok(base);
  });

  it('classifies text pairs for a pair model: {"text", "text_pair"} and a list of them; a single text is refused', async (t) => {
    const { base, endpointUrl, exchanges } = await servePairs(t);
    const pairs = [
      { text: 'A wonderful, moving film.', text_pair: 'Dull plot and awful dialogue.' },
      { text: 'Great.', text_pair: LONG_TEXT },
    ];
    const expected = await v1Scores(base, pairs, LARGEST_POINT, PAIR_MODEL);
    const client = new InferenceClient();
    const one = await client.textClassification({
      endpointUrl,
      inputs: pairs[0] as unknown as string,
      parameters: { subnet_id: LARGEST_POINT },
    });
    assertRanked(one, expected[0]!, 1e-5);
    assert.deepEqual(exchanges.at(-1)!.body.inputs, pairs[0]);

    const previous = console;
    setLogger({ ...console, warn: () => {} });
    t.after(() => setLogger(previous));
    const both: Json = await hfRequest(
      { endpointUrl, inputs: pairs, parameters: { subnet_id: LARGEST_POINT } },
      { task: 'text-classification' },
    );
    assert.equal(both.length, 2);
    for (let i = 0; i < pairs.length; i++) assertRanked(both[i], expected[i]!, 1e-5);

    const error = await client
      .textClassification({ endpointUrl, inputs: 'a single text' })
      .catch((e: unknown) => e);
    assert.ok(error instanceof InferenceClientProviderApiError);
    assert.equal(error.httpResponse.status, 400);
    assert.match(
      (error.httpResponse.body as Json).detail,
      /model fixture-pairs classifies text pairs: each input is \{"text": "\.\.\.", "text_pair": "\.\.\."\}; input 0 is a single text/,
    );

    // TEI's shape: a list of two strings is one pair; a batch holds pairs.
    const tei = await fetch(`${base}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'subnet-id': LARGEST_POINT },
      body: JSON.stringify({ inputs: [pairs[0]!.text, pairs[0]!.text_pair] }),
    });
    assertRanked(await tei.json(), expected[0]!, 1e-5);
    const teiBatch = (await (
      await fetch(`${base}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'subnet-id': LARGEST_POINT },
        body: JSON.stringify({ inputs: pairs.map((p) => [p.text, p.text_pair]) }),
      })
    ).json()) as Json;
    for (let i = 0; i < pairs.length; i++) assertRanked(teiBatch[i], expected[i]!, 1e-5);
  });

  it('answers errors as problem+json that the client reads: bad input, a pair for a single-text model, an unknown model', async (t) => {
    const { base, endpointUrl, exchanges } = await serve(t);
    const client = new InferenceClient();
    const failure = async (args: Record<string, unknown>, url = endpointUrl) => {
      const error = await client
        .textClassification({ endpointUrl: url, inputs: '', ...args })
        .then(() => undefined)
        .catch((e: unknown) => e);
      assert.ok(error instanceof InferenceClientProviderApiError, String(error));
      assert.match(
        String(exchanges.at(-1)!.responseHeaders.get('content-type')),
        /^application\/problem\+json/,
      );
      return error;
    };

    const badMode = await failure({ inputs: 'x', parameters: { budget_mode: 'sometimes' } });
    assert.equal(badMode.httpResponse.status, 400);
    assert.equal((badMode.httpResponse.body as Json).code, 'INVALID_REQUEST');
    assert.match(badMode.message, /^Failed to perform inference: body\.parameters\.budget_mode/);

    const badTopK = await failure({ inputs: 'x', parameters: { top_k: 0 } });
    assert.equal(badTopK.httpResponse.status, 400);
    assert.match(badTopK.message, /top_k/);

    const pair = await failure({
      inputs: { text: 'a question', text_pair: 'an answer' } as unknown as string,
    });
    assert.equal(pair.httpResponse.status, 400);
    const body = pair.httpResponse.body as Json;
    assert.equal(body.code, 'WRONG_INPUT_KIND');
    assert.equal(body.error, body.detail);
    assert.match(
      body.detail,
      /model fixture-sentiment classifies single texts: each input is a string; input 0 is a text pair/,
    );

    const shape = await failure({ inputs: 42 as unknown as string });
    assert.match(
      shape.message,
      /inputs must be a text, a list of texts, or \{"text": \.\.\., "text_pair": \.\.\.\}/,
    );

    const untruncated = await failure({ inputs: LONG_TEXT, parameters: { truncation: false } });
    assert.equal(untruncated.httpResponse.status, 413);
    assert.equal((untruncated.httpResponse.body as Json).code, 'TOO_MANY_TOKENS');

    const unknown = await failure({ inputs: 'x' }, `${base}/models/no-such-model`);
    assert.equal(unknown.httpResponse.status, 404);
    assert.equal((unknown.httpResponse.body as Json).code, 'UNKNOWN_MODEL');

    const strict = await failure({
      inputs: 'x',
      parameters: { min_accuracy: 0.99, budget_mode: 'strict' },
    });
    assert.equal(strict.httpResponse.status, 422);
    assert.equal((strict.httpResponse.body as Json).code, 'BUDGET_UNSATISFIABLE');
  });
});

describe("text-embeddings-inference's shape: POST /predict and GET /info for the default model", () => {
  const post = (base: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('answers a text with a list, a batch with a list per text, raw_scores with the logits', async (t) => {
    const { base } = await serve(t);
    const expected = await v1Scores(base, TEXTS, LARGEST_POINT);
    const pinned = { 'subnet-id': LARGEST_POINT };

    const single = await post(base, { inputs: TEXTS[0] }, pinned);
    assert.equal(single.status, 200);
    assert.equal(single.headers.get('subnet-id'), LARGEST_POINT);
    assert.equal(single.headers.get('budget-met'), 'true');
    assertRanked(await single.json(), expected[0]!, 1e-5);

    const batch = await post(base, { inputs: TEXTS.map((text) => [text]), truncate: true }, pinned);
    assert.equal(batch.status, 200);
    const lists = (await batch.json()) as Json;
    assert.equal(lists.length, TEXTS.length);
    for (let i = 0; i < TEXTS.length; i++) assertRanked(lists[i], expected[i]!, 1e-5);

    const raw = (await (await post(base, { inputs: TEXTS[0], raw_scores: true }, pinned)).json()) as Json;
    const max = Math.max(...raw.map((s: Json) => s.score));
    const sum = raw.reduce((acc: number, s: Json) => acc + Math.exp(s.score - max), 0);
    for (const { label, score } of raw) {
      assert.ok(Math.abs(Math.exp(score - max) / sum - expected[0]![label]!) < 1e-5);
    }
  });

  it("refuses what the model cannot take, as problem+json with TEI's error and error_type", async (t) => {
    const { base } = await serve(t);
    const pair = await post(base, { inputs: ['a question', 'an answer'] });
    assert.equal(pair.status, 400);
    assert.match(String(pair.headers.get('content-type')), /^application\/problem\+json/);
    const body = (await pair.json()) as Json;
    assert.equal(body.code, 'WRONG_INPUT_KIND');
    assert.equal(body.error_type, 'validation');
    assert.match(
      body.error,
      /classifies single texts: send a text or a batch \[\["a"\], \["b"\]\] \(a list of two strings is one pair\)/,
    );

    const left = (await (await post(base, { inputs: 'x', truncation_direction: 'left' })).json()) as Json;
    assert.match(left.detail, /truncation_direction "left" is not served/);
    const unknownField = await post(base, { inputs: 'x', normalize: true });
    assert.equal(unknownField.status, 400);
    // LONG_TEXT is about 200 tokens, over the model's 128: truncate false refuses it instead of reading its ends.
    const untruncated = await post(base, { inputs: LONG_TEXT, truncate: false });
    assert.equal(untruncated.status, 413);
    assert.equal(((await untruncated.json()) as Json).code, 'TOO_MANY_TOKENS');
    assert.equal((await post(base, { inputs: LONG_TEXT, truncate: null })).status, 200);
    const tooMany = await post(base, { inputs: Array.from({ length: 65 }, () => ['x']) });
    assert.equal(tooMany.status, 413);
    assert.equal(((await tooMany.json()) as Json).code, 'TOO_MANY_TEXTS');
  });

  it('describes the default model in /info', async (t) => {
    const { base } = await serve(t);
    const info = (await (await fetch(`${base}/info`)).json()) as Json;
    assert.equal(info.model_id, FIXTURE_MODEL);
    assert.equal(info.model_sha, 'v1');
    assert.deepEqual(info.model_type, {
      classifier: { id2label: { 0: 'negative', 1: 'positive' }, label2id: { negative: 0, positive: 1 } },
    });
    assert.equal(info.max_input_length, 128);
    assert.equal(info.max_client_batch_size, 64);
    assert.equal(info.auto_truncate, true);
  });

  it('reads a long text when truncate is true, though the server refuses long texts by default', async (t) => {
    const { base } = await serve(t, { TOKEN_LIMIT: 'reject' });
    assert.equal((await post(base, { inputs: LONG_TEXT })).status, 413);
    assert.equal((await post(base, { inputs: LONG_TEXT, truncate: true })).status, 200);
    assert.equal(((await (await fetch(`${base}/info`)).json()) as Json).auto_truncate, false);
  });

  it('serves the model DEFAULT_MODEL names: another name is a 404 on both routes', async (t) => {
    const other = await serve(t, { DEFAULT_MODEL: 'another-model' });
    const missing = await fetch(`${other.base}/info`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as Json).code, 'UNKNOWN_MODEL');
    assert.equal((await post(other.base, { inputs: 'x' })).status, 404);
  });

  it('is described in the OpenAPI document', async (t) => {
    const { base } = await serve(t);
    const doc = (await (await fetch(`${base}/docs/json`)).json()) as Json;
    assert.ok(doc.paths['/models/{model}'].post.requestBody);
    assert.ok(doc.paths['/predict'].post.requestBody);
    assert.ok(doc.paths['/info'].get.responses['200']);
  });
});
