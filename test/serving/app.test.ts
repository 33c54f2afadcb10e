import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServingApp } from '../../serving/app.ts';
import { buildApp } from '../../serving/app.ts';
import { subnetCost } from '../../src/model/accounting.ts';
import { parseOperatingPointId } from '../../src/model/config.ts';
import {
  FIXTURE_ARCH,
  FIXTURE_MODEL,
  FIXTURE_POINTS,
  fixtureFolder,
  gatedPools,
  LARGEST_POINT,
  LONG_TEXT,
  onlyHost,
  readyApp,
  readyWithin,
  SMALLEST_POINT,
  testConfig,
  until,
} from './fixture.ts';

const PREDICT = `/v1/models/${FIXTURE_MODEL}/predict`;
const INFER = `/v2/models/${FIXTURE_MODEL}/infer`;
const TEXTS = [LONG_TEXT, 'Dull plot and awful dialogue.'];

// biome-ignore lint/suspicious/noExplicitAny: responses are checked field by field
type Json = any;

function predict(app: ServingApp, body: unknown, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: PREDICT, payload: body as object, headers });
}

function assertProblem(
  response: { statusCode: number; headers: Record<string, unknown>; json(): Json },
  status: number,
  code: string,
) {
  assert.equal(response.statusCode, status, JSON.stringify(response.json()));
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  const body = response.json();
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  assert.equal(typeof body.title, 'string');
  assert.equal(typeof body.detail, 'string');
  assert.match(body.type, /^urn:elastic-supernet:problem:/);
  if (status === 503) assert.match(String(response.headers['retry-after']), /^\d+$/);
  return body;
}

// Memory of a point for one text of the fixture's longest reading.
function memoryOf(id: string, texts = 1, tokens = 128): number {
  const point = parseOperatingPointId(id);
  return subnetCost(FIXTURE_ARCH, point.subnet, texts, Math.min(tokens, point.tokens)).memoryBytes;
}

describe('serving app (inject)', () => {
  let app: ServingApp;
  let modelRoot: string;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    ({ modelRoot } = await fixtureFolder({ after: (fn) => cleanups.push(fn) }));
    app = await buildApp({ config: testConfig(modelRoot) });
    await app.ready();
    await readyWithin(app);
  });

  after(async () => {
    await app.close();
    for (const fn of cleanups) await fn();
  });

  it('answers predict with the contract shape and headers', async () => {
    const response = await predict(app, { inputs: TEXTS });
    assert.equal(response.statusCode, 200);
    const body = response.json();
    assert.deepEqual(Object.keys(body), ['model', 'version', 'subnet', 'budget', 'outputs']);
    assert.equal(body.model, FIXTURE_MODEL);
    assert.equal(body.version, 'v1');
    assert.deepEqual(Object.keys(body.subnet), [
      'id',
      'config',
      'params',
      'flops',
      'memoryBytes',
      'expectedLatencyMs',
      'accuracy',
    ]);
    assert.equal(body.subnet.id, LARGEST_POINT);
    assert.equal(body.subnet.accuracy, 0.88);
    assert.deepEqual(body.budget, {
      latencyMs: null,
      memoryMb: null,
      minAccuracy: null,
      mode: 'best-effort',
      met: true,
    });
    // flops and memory are this request's: two texts, padded to the longer one.
    const model = onlyHost(app).model!;
    const tokens = Math.min(128, Math.max(...TEXTS.map((t) => model.tokenizer.encode(t).length + 2)));
    const point = parseOperatingPointId(LARGEST_POINT);
    const cost = subnetCost(FIXTURE_ARCH, point.subnet, 2, tokens);
    assert.equal(body.subnet.flops, cost.flops);
    assert.equal(body.subnet.memoryBytes, cost.memoryBytes);
    assert.equal(body.subnet.params, cost.params);
    assert.deepEqual(body.subnet.config, { layers: point.subnet.layers, tokens: 128, precision: 'fp32' });
    assert.ok(body.subnet.expectedLatencyMs > 0);
    assert.equal(body.outputs.length, 2);
    for (const output of body.outputs) {
      assert.deepEqual(Object.keys(output.scores), ['negative', 'positive']);
      assert.ok(Math.abs(output.scores.negative + output.scores.positive - 1) < 1e-9);
      assert.equal(output.score, output.scores[output.label]);
      assert.equal(output.score, Math.max(output.scores.negative, output.scores.positive));
    }
    assert.equal(response.headers['subnet-id'], LARGEST_POINT);
    assert.match(
      String(response.headers['server-timing']),
      /^queue;dur=\d+\.\d{3}, inference;dur=\d+\.\d{3}, total;dur=\d+\.\d{3}$/,
    );
    assert.match(String(response.headers['request-id']), /^[0-9a-f-]{36}$/);
  });

  it('gives the same scores for the same text whatever it is batched with', async () => {
    const alone = (await predict(app, { inputs: [TEXTS[0]] }, { 'subnet-id': LARGEST_POINT })).json();
    const together = (await predict(app, { inputs: TEXTS }, { 'subnet-id': LARGEST_POINT })).json();
    assert.ok(Math.abs(alone.outputs[0].score - together.outputs[0].score) < 1e-5);
  });

  it('gives a tight latency budget a smaller subnet than a loose one', async () => {
    const tight = await predict(app, { inputs: TEXTS }, { 'latency-budget-ms': '0.001' });
    const loose = await predict(app, { inputs: TEXTS }, { 'latency-budget-ms': '100000' });
    assert.equal(tight.statusCode, 200);
    assert.notEqual(tight.json().subnet.id, LARGEST_POINT);
    assert.ok(tight.json().subnet.accuracy < loose.json().subnet.accuracy);
    assert.equal(tight.json().budget.met, false);
    assert.equal(tight.json().budget.latencyMs, 0.001);
    assert.equal(loose.json().subnet.id, LARGEST_POINT);
    assert.equal(loose.json().budget.met, true);
    assert.ok(tight.json().subnet.flops < loose.json().subnet.flops);
  });

  it('takes budgets from parameters as from headers', async () => {
    const response = await predict(app, { inputs: TEXTS, parameters: { latency_budget_ms: 0.001 } });
    assert.notEqual(response.json().subnet.id, LARGEST_POINT);
    assert.equal(response.json().budget.latencyMs, 0.001);
    const pinned = await predict(app, {
      inputs: TEXTS,
      parameters: { subnet_id: SMALLEST_POINT, budget_mode: 'strict' },
    });
    assert.equal(pinned.json().subnet.id, SMALLEST_POINT);
    assert.equal(pinned.json().budget.mode, 'strict');
  });

  it('refuses a memory budget below the smallest subnet in strict mode (422), serves it best-effort with met false', async () => {
    const strict = await predict(
      app,
      { inputs: TEXTS },
      { 'memory-budget-mb': '1', 'budget-mode': 'strict' },
    );
    const body = assertProblem(strict, 422, 'BUDGET_UNSATISFIABLE');
    assert.match(body.detail, /memory budget/);
    const best = await predict(app, { inputs: TEXTS }, { 'memory-budget-mb': '1' });
    assert.equal(best.statusCode, 200);
    assert.equal(best.json().budget.met, false);
    assert.equal(best.json().budget.memoryMb, 1);
    const tokens = Math.max(...TEXTS.map((t) => onlyHost(app).model!.tokenizer.encode(t).length + 2));
    const memories = FIXTURE_POINTS.map((p) => memoryOf(pointId(p), 2, tokens));
    assert.equal(best.json().subnet.memoryBytes, Math.min(...memories));
  });

  it('serves the most accurate subnet within a memory budget that some subnets meet', async () => {
    const budgetMb = memoryOf('0h2f128.1h2f128-t64', 1, 128) / 1048576;
    const response = await predict(app, { inputs: ['fine'] }, { 'memory-budget-mb': budgetMb.toFixed(6) });
    assert.equal(response.statusCode, 200);
    assert.equal(response.json().budget.met, true);
    assert.ok(response.json().subnet.memoryBytes <= budgetMb * 1048576);
  });

  it('meets an accuracy floor, and refuses one above the catalog in strict mode', async () => {
    // A memory budget that 0.82's point fits and the larger ones do not: the floor is met by that point.
    const mebibytes = (bytes: number) => String(Math.ceil((bytes / 1048576) * 1e6) / 1e6);
    const fitsTheFloor = mebibytes(memoryOf('0h4f256.1h4f256-t64', 2));
    const met = (
      await predict(app, { inputs: TEXTS }, { 'min-accuracy': '0.81', 'memory-budget-mb': fitsTheFloor })
    ).json();
    assert.deepEqual([met.subnet.accuracy, met.budget.met], [0.82, true]);
    // Under a memory budget that only points below the floor fit, no point meets both: strict mode refuses,
    // best-effort serves the closest fit (the floor missed by the least: 0.78) and says the budget was not met.
    const belowTheFloor = mebibytes(memoryOf('0h2f128.1h2f128-t64', 2));
    const both = { 'min-accuracy': '0.81', 'memory-budget-mb': belowTheFloor };
    const refused = assertProblem(
      await predict(app, { inputs: TEXTS }, { ...both, 'budget-mode': 'strict' }),
      422,
      'BUDGET_UNSATISFIABLE',
    );
    assert.match(refused.detail, /accuracy floor 0.81/);
    const closest = (await predict(app, { inputs: TEXTS }, both)).json();
    assert.deepEqual([closest.subnet.accuracy, closest.budget.met], [0.78, false]);
    const ok = await predict(app, { inputs: TEXTS }, { 'min-accuracy': '0.85' });
    assert.equal(ok.json().subnet.accuracy, 0.88);
    assert.equal(ok.json().budget.met, true);
    assertProblem(
      await predict(app, { inputs: TEXTS }, { 'min-accuracy': '0.99', 'budget-mode': 'strict' }),
      422,
      'BUDGET_UNSATISFIABLE',
    );
  });

  it('pins a subnet by operating point id or bare subnet id; an unknown one is 400 UNKNOWN_SUBNET', async () => {
    const pinned = await predict(app, { inputs: TEXTS }, { 'subnet-id': '0h2f128.1h2f128-t64' });
    assert.equal(pinned.json().subnet.id, '0h2f128.1h2f128-t64');
    assert.equal(pinned.headers['subnet-id'], '0h2f128.1h2f128-t64');
    const bare = await predict(app, { inputs: TEXTS }, { 'subnet-id': '0h1f32' });
    assert.equal(bare.json().subnet.id, SMALLEST_POINT);
    assertProblem(
      await predict(app, { inputs: TEXTS }, { 'subnet-id': '0h3f32-t16' }),
      400,
      'UNKNOWN_SUBNET',
    );
    assertProblem(
      await predict(app, { inputs: TEXTS }, { 'subnet-id': 'NOT A SUBNET' }),
      400,
      'INVALID_BUDGET',
    );
  });

  it('refuses conflicting header and parameter budgets (400 CONFLICTING_BUDGET)', async () => {
    const response = await predict(
      app,
      { inputs: TEXTS, parameters: { latency_budget_ms: 50 } },
      { 'latency-budget-ms': '20' },
    );
    assertProblem(response, 400, 'CONFLICTING_BUDGET');
  });

  it('answers malformed requests with 400 problem+json', async () => {
    const bad = [
      { payload: '{"inputs": [', type: 'application/json' },
      { payload: '', type: 'application/json' },
      { payload: '{}', type: 'application/json' },
      { payload: '{"inputs": []}', type: 'application/json' },
      { payload: '{"inputs": "one text"}', type: 'application/json' },
      { payload: '{"inputs": [1, 2]}', type: 'application/json' },
      { payload: '{"inputs": ["a"], "extra": true}', type: 'application/json' },
      { payload: '{"inputs": ["a"], "parameters": {"latency_budget_ms": -1}}', type: 'application/json' },
      { payload: '{"inputs": ["a"], "parameters": {"min_accuracy": 2}}', type: 'application/json' },
      { payload: '{"inputs": ["a"], "__proto__": {"x": 1}}', type: 'application/json' },
    ];
    for (const { payload, type } of bad) {
      const response = await app.inject({
        method: 'POST',
        url: PREDICT,
        payload,
        headers: { 'content-type': type },
      });
      assertProblem(response, 400, response.json().code);
      assert.ok(['INVALID_REQUEST'].includes(response.json().code), `${payload}: ${response.json().code}`);
    }
    for (const [name, value] of [
      ['latency-budget-ms', 'fast'],
      ['latency-budget-ms', '-1'],
      ['memory-budget-mb', '1e9'],
      ['min-accuracy', '1.01'],
      ['budget-mode', 'sometimes'],
    ]) {
      assertProblem(await predict(app, { inputs: TEXTS }, { [name!]: value! }), 400, 'INVALID_BUDGET');
    }
    const text = await app.inject({
      method: 'POST',
      url: PREDICT,
      payload: '<a/>',
      headers: { 'content-type': 'application/xml' },
    });
    assertProblem(text, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers 404 for an unknown model and an unknown route', async () => {
    assertProblem(
      await app.inject({ method: 'POST', url: '/v1/models/other-model/predict', payload: { inputs: TEXTS } }),
      404,
      'UNKNOWN_MODEL',
    );
    assertProblem(await app.inject({ url: '/v1/models/other-model' }), 404, 'UNKNOWN_MODEL');
    assertProblem(await app.inject({ url: '/v2/models/other-model' }), 404, 'UNKNOWN_MODEL');
    const infer = await app.inject({
      method: 'POST',
      url: '/v2/models/other-model/infer',
      payload: { inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: ['x'] }] },
    });
    assert.equal(assertProblem(infer, 404, 'UNKNOWN_MODEL').error, infer.json().detail);
    assertProblem(await app.inject({ url: '/no/such/route' }), 404, 'NOT_FOUND');
  });

  it('answers 413 for too many texts and too long a text', async () => {
    assertProblem(
      await predict(app, { inputs: Array.from({ length: 65 }, () => 'x') }),
      413,
      'TOO_MANY_TEXTS',
    );
    assertProblem(await predict(app, { inputs: ['x'.repeat(50_001)] }), 413, 'TEXT_TOO_LONG');
    // Long texts within the limits are read head and tail, up to the operating point's tokens.
    const long = await predict(app, { inputs: [`${'good '.repeat(2000)} bad`] });
    assert.equal(long.statusCode, 200);
    assert.equal(long.json().subnet.memoryBytes, memoryOf(LARGEST_POINT, 1, 128));
  });

  it('answers 413 for a body over MAX_BODY_BYTES', async () => {
    const response = await predict(app, { inputs: ['y'.repeat(1024 * 1024 + 10)] });
    assertProblem(response, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('reports health, the models and the catalog calibrated on this host', async () => {
    assert.deepEqual((await app.inject({ url: '/v2/health/live' })).json(), { live: true });
    assert.deepEqual((await app.inject({ url: '/v2/health/ready' })).json(), { ready: true });
    const models = (await app.inject({ url: '/v1/models' })).json();
    assert.equal(models.models.length, 1);
    assert.equal(models.models[0].name, FIXTURE_MODEL);
    assert.equal(models.models[0].operatingPoints, 5);
    const catalog = (await app.inject({ url: `/v1/models/${FIXTURE_MODEL}` })).json();
    assert.equal(catalog.version, 'v1');
    assert.equal(catalog.catalog.length, 5);
    const accuracies = catalog.catalog.map((p: Json) => p.devAccuracy);
    assert.deepEqual(
      accuracies,
      [...accuracies].sort((a: number, b: number) => b - a),
    );
    for (const point of catalog.catalog) {
      assert.ok(point.latencyMs > 0 && point.calibratedLatencyMs > 0 && point.latencyCorrection > 0);
      assert.equal(point.trainingLatencyHost, 'fixture');
    }
    assert.equal(catalog.host.engine, 'onnx');
    assert.ok(catalog.host.calibrationSamples >= 15);
  });

  it('speaks the Open Inference Protocol', async () => {
    const server = (await app.inject({ url: '/v2' })).json();
    assert.equal(server.name, 'elastic-supernet-serving');
    const metadata = (await app.inject({ url: `/v2/models/${FIXTURE_MODEL}` })).json();
    assert.deepEqual(metadata.versions, ['v1']);
    assert.deepEqual(metadata.inputs, [{ name: 'text', datatype: 'BYTES', shape: [-1] }]);
    assert.deepEqual((await app.inject({ url: `/v2/models/${FIXTURE_MODEL}/ready` })).json(), {
      name: FIXTURE_MODEL,
      ready: true,
    });
    const response = await app.inject({
      method: 'POST',
      url: INFER,
      headers: { 'latency-budget-ms': '0.001' },
      payload: {
        id: 'request-7',
        parameters: { content_type: 'str' },
        inputs: [{ name: 'text', shape: [2], datatype: 'BYTES', data: TEXTS }],
      },
    });
    assert.equal(response.statusCode, 200);
    const body = response.json();
    assert.equal(body.model_name, FIXTURE_MODEL);
    assert.equal(body.model_version, 'v1');
    assert.equal(body.id, 'request-7');
    assert.notEqual(body.parameters.subnet_id, LARGEST_POINT);
    assert.equal(body.parameters.budget_met, false);
    assert.equal(response.headers['subnet-id'], body.parameters.subnet_id);
    assert.match(String(response.headers['server-timing']), /queue;dur=.*inference;dur=.*total;dur=/);
    const [labels, scores] = body.outputs;
    assert.deepEqual([labels.name, labels.datatype, labels.shape], ['label', 'BYTES', [2]]);
    assert.deepEqual([scores.name, scores.datatype, scores.shape], ['scores', 'FP32', [2, 2]]);
    assert.ok(Math.abs(scores.data[0] + scores.data[1] - 1) < 1e-9);
    const withParams = await app.inject({
      method: 'POST',
      url: INFER,
      payload: {
        parameters: { subnet_id: '0h2f128.1h2f128-t64' },
        inputs: [{ name: 'text', shape: [1, 1], datatype: 'BYTES', data: ['ok'] }],
      },
    });
    assert.equal(withParams.json().parameters.subnet_id, '0h2f128.1h2f128-t64');
  });

  it('refuses malformed Open Inference Protocol requests with 400 and an error member', async () => {
    const bad = [
      { inputs: [{ name: 'text', shape: [1], datatype: 'FP32', data: [1] }] },
      { inputs: [{ name: 'text', shape: [2], datatype: 'BYTES', data: ['one'] }] },
      { inputs: [{ name: 'text', shape: [1, 2], datatype: 'BYTES', data: ['a', 'b'] }] },
      { inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: [7] }] },
      {
        inputs: [
          { name: 'a', shape: [1], datatype: 'BYTES', data: ['x'] },
          { name: 'b', shape: [1], datatype: 'BYTES', data: ['y'] },
        ],
      },
      { inputs: [] },
      {
        parameters: { latency_budget_ms: 'soon' },
        inputs: [{ name: 't', shape: [1], datatype: 'BYTES', data: ['x'] }],
      },
    ];
    for (const payload of bad) {
      const response = await app.inject({ method: 'POST', url: INFER, payload });
      const body = assertProblem(response, 400, 'INVALID_REQUEST');
      assert.equal(body.error, body.detail);
    }
  });

  it('exposes Prometheus metrics: requests by status and subnet, latency and queue histograms, budgets', async () => {
    await predict(app, { inputs: TEXTS }, { 'latency-budget-ms': '0.001' });
    const response = await app.inject({ url: '/metrics' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/plain/);
    const text = response.body;
    assert.match(
      text,
      new RegExp(
        `serving_requests_total\\{model="fixture-sentiment",route="/v1/models/:model/predict",status="200",subnet="${LARGEST_POINT.replaceAll('.', '\\.')}"\\} \\d+`,
      ),
    );
    assert.match(
      text,
      /serving_requests_total\{model="fixture-sentiment",route="\/v1\/models\/:model\/predict",status="400",subnet="none"\} \d+/,
    );
    assert.match(
      text,
      /serving_request_duration_seconds_bucket\{le="0.005",model="fixture-sentiment",route="predict",subnet="/,
    );
    assert.match(text, /serving_queue_seconds_count\{model="fixture-sentiment",subnet="/);
    assert.match(text, /serving_inference_seconds_sum\{model="fixture-sentiment",subnet="/);
    assert.match(
      text,
      /serving_budget_total\{model="fixture-sentiment",outcome="missed",mode="best-effort"\} \d+/,
    );
    assert.match(
      text,
      /serving_budget_total\{model="fixture-sentiment",outcome="met",mode="best-effort"\} \d+/,
    );
    // What the engines hold, for leak checks (the soak reads these), and the budget margin.
    assert.match(text, /serving_engine_resident_subnets [1-9]\d*/);
    assert.match(text, /serving_engine_(tensors|sessions_created) \d+/);
    assert.match(text, /serving_budget_margin_seconds\{model="fixture-sentiment"\} \d/);
    assert.match(text, /serving_model_info\{model="fixture-sentiment",version="v1"\} 1/);
    assert.match(text, /serving_ready\{model="fixture-sentiment"\} 1/);
    assert.match(text, /serving_latency_correction\{model="fixture-sentiment",subnet="/);
    assert.match(text, /serving_batch_texts_bucket/);
    // The engine ran a call moments ago: its recent busy share is above 0 (and at most 1).
    const utilization = Number(/^serving_engine_utilization (\S+)$/m.exec(text)?.[1]);
    assert.ok(utilization > 0 && utilization <= 1, String(utilization));
  });

  it('publishes OpenAPI generated from the zod schemas at /docs', async () => {
    for (const url of ['/docs', '/docs/json']) {
      const doc = (await app.inject({ url })).json();
      assert.match(doc.openapi, /^3\./);
      const post = doc.paths['/v1/models/{model}/predict'].post;
      const headerNames = post.parameters.filter((p: Json) => p.in === 'header').map((p: Json) => p.name);
      for (const header of [
        'latency-budget-ms',
        'memory-budget-mb',
        'min-accuracy',
        'budget-mode',
        'subnet-id',
      ]) {
        assert.ok(headerNames.includes(header), `${header} in ${headerNames}`);
      }
      assert.ok(post.requestBody.content['application/json'].schema.properties.inputs);
      assert.ok(post.responses['200']);
      assert.ok(post.responses['422']);
      assert.ok(doc.paths['/v2/models/{model}/infer'].post);
    }
  });
});

describe('serving app settings', () => {
  it('refuses texts over MAX_TOKENS_PER_TEXT with 413 when TOKEN_LIMIT=reject', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot, { TOKEN_LIMIT: 'reject', MAX_TOKENS_PER_TEXT: '8' }));
    assert.equal((await predict(app, { inputs: ['short one'] })).statusCode, 200);
    assertProblem(
      await predict(app, { inputs: ['this text has rather more than eight tokens in it'] }),
      413,
      'TOO_MANY_TOKENS',
    );
  });

  it('applies DEFAULT_LATENCY_BUDGET_MS and DEFAULT_BUDGET_MODE to requests without a budget', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot, { DEFAULT_LATENCY_BUDGET_MS: '0.001' }));
    const response = (await predict(app, { inputs: TEXTS })).json();
    assert.notEqual(response.subnet.id, LARGEST_POINT);
    assert.equal(response.budget.met, false);
    assert.equal(response.budget.latencyMs, 0.001);
    const explicit = (await predict(app, { inputs: TEXTS }, { 'latency-budget-ms': '100000' })).json();
    assert.equal(explicit.subnet.id, LARGEST_POINT);
    const strictApp = await readyApp(
      t,
      testConfig(modelRoot, { DEFAULT_BUDGET_MODE: 'strict', DEFAULT_LATENCY_BUDGET_MS: '0.001' }),
    );
    assertProblem(await predict(strictApp, { inputs: TEXTS }), 422, 'BUDGET_UNSATISFIABLE');
  });

  it('writes the engine graphs as ONNX_GRAPH says, on workers too, with the same answers', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const scores: number[][] = [];
    for (const [graph, workers] of [
      ['fused', '0'],
      ['plain', '0'],
      ['plain', '1'],
    ] as const) {
      const app = await readyApp(t, testConfig(modelRoot, { ONNX_GRAPH: graph, INFERENCE_WORKERS: workers }));
      const stats = await onlyHost(app).model!.pool.stats();
      assert.deepEqual(
        stats.map((s) => s.graph),
        [graph],
      );
      const answer = (await predict(app, { inputs: TEXTS }, { 'subnet-id': LARGEST_POINT })).json();
      scores.push(answer.outputs.flatMap((o: Json) => Object.values(o.scores) as number[]));
    }
    for (const other of scores.slice(1)) {
      other.forEach((score, i) => {
        assert.ok(Math.abs(score - scores[0]![i]!) < 1e-5, `${score} vs ${scores[0]![i]}`);
      });
    }
  });

  it('is live but not ready (503 + Retry-After) until the supernet is loaded', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await buildApp({ config: testConfig(modelRoot), autoStart: false });
    t.after(() => app.close());
    await app.ready();
    assert.equal((await app.inject({ url: '/v2/health/live' })).statusCode, 200);
    assertProblem(await app.inject({ url: '/v2/health/ready' }), 503, 'NOT_READY');
    assertProblem(await predict(app, { inputs: TEXTS }), 503, 'NOT_READY');
    assert.deepEqual((await app.inject({ url: '/v1/models' })).json(), { models: [] });
    await app.models.start();
    assert.equal((await app.inject({ url: '/v2/health/ready' })).statusCode, 200);
    assert.equal((await predict(app, { inputs: TEXTS })).statusCode, 200);
  });

  it('stays not ready, and says why, while SUPERNET_URI holds no supernet', async (t) => {
    const { root } = await fixtureFolder(t);
    const app = await buildApp({ config: testConfig(`${root}/nothing-here`), autoStart: false });
    t.after(() => app.close());
    await app.ready();
    assert.deepEqual(await app.models.start(), []);
    const body = assertProblem(await app.inject({ url: '/v2/health/ready' }), 503, 'NOT_READY');
    assert.match(body.detail, /neither manifest\.json .*, LATEST .* nor model folders/);
  });

  it('sheds load with 503 OVERLOADED and Retry-After when the queue is full', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const { gates, wrapPool } = gatedPools();
    const app = await readyApp(t, testConfig(modelRoot, { MAX_QUEUE: '2' }), { wrapPool });
    const gate = gates[0]!;
    gate.close();
    const held = [0, 1, 2].map(() => predict(app, { inputs: TEXTS }));
    await until(() => gate.waiting === 1 && onlyHost(app).model!.scheduler.queueLength === 2);
    assertProblem(await predict(app, { inputs: TEXTS }), 503, 'OVERLOADED');
    gate.open();
    for (const response of await Promise.all(held)) assert.equal(response.statusCode, 200);
    assert.match(
      (await app.inject({ url: '/metrics' })).body,
      /serving_shed_total\{model="fixture-sentiment",reason="queue"\} 1/,
    );
  });

  it('answers a strict budget that fits an idle server but not the current queue with 503 BUDGET_NOT_MET_NOW', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const { gates, wrapPool } = gatedPools();
    const app = await readyApp(t, testConfig(modelRoot, { MAX_QUEUE: '1000', MAX_BATCH: '1' }), {
      wrapPool,
    });
    const gate = gates[0]!;
    const model = onlyHost(app).model!;
    gate.close();
    // Queued work with earlier deadlines than the strict request: it will have to wait for all of it.
    const held = Array.from({ length: 400 }, () =>
      predict(app, { inputs: ['queued'] }, { 'latency-budget-ms': '0.001' }),
    );
    await until(() => model.scheduler.queueLength === 399);
    const smallest = model.pointById(SMALLEST_POINT)!;
    const idleMs = model.latency.overheadMs + model.latency.predictMs(smallest, 1, 3);
    const waitMs = model.scheduler.expectedWaitMs(performance.now() + 1e6);
    assert.ok(waitMs > 2 * idleMs + 12, `wait ${waitMs} ms, idle ${idleMs} ms`);
    const budget = (idleMs + 5 + waitMs / 2).toFixed(3);
    const refused = await predict(
      app,
      { inputs: ['now'] },
      { 'latency-budget-ms': budget, 'budget-mode': 'strict' },
    );
    assertProblem(refused, 503, 'BUDGET_NOT_MET_NOW');
    gate.open();
    await Promise.all(held);
    const served = await predict(
      app,
      { inputs: ['now'] },
      { 'latency-budget-ms': budget, 'budget-mode': 'strict' },
    );
    assert.equal(served.statusCode, 200);
  });
});

function pointId(p: (typeof FIXTURE_POINTS)[number]): string {
  return `${p.subnet.layers.map((l) => `${l.layer}h${l.heads}f${l.ffn}`).join('.')}-t${p.tokens}`;
}
