import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServingApp } from '../../serving/app.ts';
import { buildApp } from '../../serving/app.ts';
import { FIXTURE_MODEL, fixtureFolder, LARGEST_POINT, readyWithin, testConfig } from './fixture.ts';

const PREDICT = `/v1/models/${FIXTURE_MODEL}/predict`;
const INFER = `/v2/models/${FIXTURE_MODEL}/infer`;

// biome-ignore lint/suspicious/noExplicitAny: responses are checked field by field
type Json = any;

function problem(
  response: { statusCode: number; headers: Record<string, unknown>; json(): Json },
  status: number,
  code: string,
): Json {
  assert.equal(response.statusCode, status, JSON.stringify(response.json()));
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  const body = response.json();
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  return body;
}

describe('problem details that say what is wrong (inject)', () => {
  let app: ServingApp;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    const { modelRoot } = await fixtureFolder({ after: (fn) => cleanups.push(fn) });
    app = await buildApp({ config: testConfig(modelRoot) });
    await app.ready();
    await readyWithin(app);
  });

  after(async () => {
    await app.close();
    for (const fn of cleanups) await fn();
  });

  const predict = (headers: Record<string, string | string[]>, payload: unknown = { inputs: ['fine'] }) =>
    app.inject({ method: 'POST', url: PREDICT, payload: payload as object, headers });

  it('takes a budget as a client formats the number (6.300000000000001, 1e3)', async () => {
    for (const value of ['6.300000000000001', '1e3', '1.0E3']) {
      const response = await predict({ 'latency-budget-ms': value });
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().budget.latencyMs, Number(value));
    }
  });

  it('says a budget header was sent more than once', async () => {
    const twice = problem(await predict({ 'latency-budget-ms': ['5', '6'] }), 400, 'INVALID_BUDGET');
    assert.match(twice.detail, /Latency-Budget-Ms was sent more than once; send it once/);
    const pin = problem(
      await predict({ 'subnet-id': [LARGEST_POINT, LARGEST_POINT] }),
      400,
      'INVALID_BUDGET',
    );
    assert.match(pin.detail, /Subnet-Id was sent more than once/);
  });

  it('refuses a body without the JSON content type with 415 naming the type it takes', async () => {
    const plain = problem(
      await app.inject({
        method: 'POST',
        url: PREDICT,
        payload: JSON.stringify({ inputs: ['a JSON body labelled as text'] }),
        headers: { 'content-type': 'text/plain' },
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    assert.equal(
      plain.detail,
      'Content-Type "text/plain" is not accepted: send the body as application/json',
    );
    const none = problem(
      await app.inject({ method: 'POST', url: PREDICT, payload: Buffer.from('{"inputs": ["x"]}') }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    assert.equal(none.detail, 'the request has a body but no Content-Type: send it as application/json');
  });

  it('gives the limit in a 413 for a body over MAX_BODY_BYTES', async () => {
    const body = problem(
      await predict({}, { inputs: ['y'.repeat(2 * 1024 * 1024)] }),
      413,
      'PAYLOAD_TOO_LARGE',
    );
    assert.equal(body.detail, 'the request body is larger than the 1048576 bytes allowed (MAX_BODY_BYTES)');
  });

  it('answers a method a route does not take with 405 and Allow', async () => {
    const get = await app.inject({ method: 'GET', url: PREDICT });
    assert.equal(get.headers.allow, 'POST');
    assert.match(
      problem(get, 405, 'METHOD_NOT_ALLOWED').detail,
      /^GET is not allowed on .*predict; it takes POST$/,
    );
    const post = await app.inject({ method: 'POST', url: '/v1/models', payload: {} });
    assert.equal(post.headers.allow, 'GET, HEAD');
    problem(post, 405, 'METHOD_NOT_ALLOWED');
    const infer = await app.inject({ method: 'GET', url: `${INFER}?x=1` });
    assert.equal(infer.headers.allow, 'POST');
    assert.equal(problem(infer, 405, 'METHOD_NOT_ALLOWED').error, infer.json().detail);
    problem(await app.inject({ method: 'GET', url: '/no/such/route' }), 404, 'NOT_FOUND');
  });

  it('says what is wrong with an Open Inference Protocol shape', async () => {
    const infer = (shape: number[], data: string[]) =>
      app.inject({
        method: 'POST',
        url: INFER,
        payload: { inputs: [{ name: 'text', shape, datatype: 'BYTES', data }] },
      });
    assert.equal(
      problem(await infer([1, 2], ['a', 'b']), 400, 'INVALID_REQUEST').detail,
      "input 'text' has shape [1, 2]; texts go in shape [n] or [n, 1], one text per row",
    );
    assert.equal(
      problem(await infer([2], ['a']), 400, 'INVALID_REQUEST').detail,
      "input 'text' has shape [2], which holds 2 texts, but its data holds 1",
    );
  });

  it('says a pinned point cannot meet a strict budget, with the figure the decision used', async () => {
    const body = problem(
      await predict({ 'subnet-id': LARGEST_POINT, 'budget-mode': 'strict', 'latency-budget-ms': '0.3' }),
      422,
      'BUDGET_UNSATISFIABLE',
    );
    assert.match(
      body.detail,
      /^the pinned operating point cannot meet latency budget 0\.3 ms \(it needs [\d.]+ ms on an idle server, headroom for its spread included\), even on an idle server$/,
    );
    const free = problem(
      await predict({ 'budget-mode': 'strict', 'latency-budget-ms': '0.001' }),
      422,
      'BUDGET_UNSATISFIABLE',
    );
    assert.match(free.detail, /^no operating point can meet latency budget 0\.001 ms \(the fastest needs/);
  });
});
