import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServingApp } from '../../serving/app.ts';
import { FIXTURE_MODEL, fixtureFolder, LONG_TEXT, onlyHost, readyApp, testConfig } from './fixture.ts';

const REQUESTS = 2000;
const TEXTS = [LONG_TEXT, 'short and sweet', 'meh', 'An odd, uneven film.'];
const SHORT_TEXTS = ['A fine film.', 'short and sweet', 'meh', 'An odd, uneven film.'];

// Sends REQUESTS predictions, `concurrency` at a time, with budgets that spread them over the catalog.
async function hammer(app: ServingApp, concurrency: number, texts = TEXTS): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  const budgets = [undefined, '0.001', '0.5', '2', '100000'];
  let next = 0;
  const worker = async () => {
    while (next < REQUESTS) {
      const i = next++;
      const budget = budgets[i % budgets.length];
      const response = await app.inject({
        method: 'POST',
        url: `/v1/models/${FIXTURE_MODEL}/predict`,
        headers: budget === undefined ? {} : { 'latency-budget-ms': budget },
        payload: { inputs: texts.slice(0, 1 + (i % texts.length)) },
      });
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

describe('no growth over 2,000 requests', () => {
  it('onnx engine in process: no new sessions, the same resident subnets', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot));
    const [before] = await onlyHost(app).model!.pool.stats();
    const statuses = await hammer(app, 8);
    const [after] = await onlyHost(app).model!.pool.stats();
    assert.deepEqual([...statuses], [[200, REQUESTS]]);
    assert.equal(before!.sessionsCreated, 5);
    assert.equal(after!.sessionsCreated, before!.sessionsCreated);
    assert.equal(after!.residentSubnets, before!.residentSubnets);
    assert.equal(after!.cacheMisses, before!.cacheMisses);
  });

  it('tfjs engine in process: no tensor leaks', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot, { ENGINE: 'tfjs', TFJS_BACKEND: 'wasm' }));
    const [before] = await onlyHost(app).model!.pool.stats();
    assert.equal(before!.engine, 'tfjs');
    assert.ok((before!.tensors ?? 0) > 0);
    // Short texts: the wasm backend is ~10x slower than onnxruntime, and leaks do not depend on length.
    const statuses = await hammer(app, 4, SHORT_TEXTS);
    const [after] = await onlyHost(app).model!.pool.stats();
    assert.deepEqual([...statuses], [[200, REQUESTS]]);
    assert.equal(after!.tensors, before!.tensors);
    assert.equal(after!.residentSubnets, before!.residentSubnets);
  });

  it('onnx engine on two worker threads: both used, no new sessions', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot, { INFERENCE_WORKERS: '2' }));
    const pool = onlyHost(app).model!.pool;
    assert.equal(pool.slots, 2);
    const before = await pool.stats();
    const statuses = await hammer(app, 16);
    const after = await pool.stats();
    assert.deepEqual([...statuses], [[200, REQUESTS]]);
    assert.deepEqual(
      after.map((s) => s.sessionsCreated),
      before.map((s) => s.sessionsCreated),
    );
    assert.deepEqual(
      before.map((s) => s.sessionsCreated),
      [5, 5],
    );
    const metrics = (await app.inject({ url: '/metrics' })).body;
    // Queued requests were batched at least once under this load.
    const batched = [
      ...metrics.matchAll(/serving_batch_texts_bucket\{le="1",model="[^"]+",subnet="[^"]+"\} (\d+)/g),
    ].reduce((n, m) => n + Number(m[1]), 0);
    const calls = [
      ...metrics.matchAll(/serving_batch_texts_count\{model="[^"]+",subnet="[^"]+"\} (\d+)/g),
    ].reduce((n, m) => n + Number(m[1]), 0);
    assert.ok(calls > 0 && calls <= REQUESTS);
    assert.ok(batched <= calls);
  });
});

describe('event loop protection', () => {
  it('sheds with 503 OVERLOADED when the event loop is delayed, and still answers health probes', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(
      t,
      testConfig(modelRoot, { INFERENCE_WORKERS: '1', MAX_EVENT_LOOP_DELAY_MS: '1' }),
    );
    let shed: { statusCode: number; headers: Record<string, unknown>; json(): { code: string } } | undefined;
    for (let attempt = 0; attempt < 20 && !shed; attempt++) {
      const until = performance.now() + 400;
      while (performance.now() < until) {
        // Block the event loop, as a drowning server would.
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
      const response = await app.inject({
        method: 'POST',
        url: `/v1/models/${FIXTURE_MODEL}/predict`,
        payload: { inputs: ['x'] },
      });
      if (response.statusCode === 503) shed = response;
      else assert.equal(response.statusCode, 200);
      if (shed) assert.equal((await app.inject({ url: '/v2/health/live' })).statusCode, 200);
    }
    assert.ok(shed, 'never shed');
    assert.equal(shed.json().code, 'OVERLOADED');
    assert.equal(shed.headers['retry-after'], '1');
    assert.match(
      (await app.inject({ url: '/metrics' })).body,
      /serving_shed_total\{model="[^"]+",reason="event-loop"\} [1-9]/,
    );
  });
});
