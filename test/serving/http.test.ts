import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { ServingApp } from '../../serving/app.ts';
import {
  FIXTURE_MODEL,
  fixtureFolder,
  gatedPools,
  LARGEST_POINT,
  LONG_TEXT,
  readyApp,
  testConfig,
  until,
} from './fixture.ts';

// biome-ignore lint/suspicious/noExplicitAny: responses are checked field by field
type Json = any;

async function listen(app: ServingApp): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

// One request on its own connection (no pooling), so that a closed listener shows as a refused connection.
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const json = { 'content-type': 'application/json' };

describe('serving over real HTTP', () => {
  it('serves predict, infer, health, catalog, metrics and errors on 127.0.0.1', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const app = await readyApp(t, testConfig(modelRoot));
    const base = await listen(app);

    const predict = await send(`${base}/v1/models/${FIXTURE_MODEL}/predict`, {
      method: 'POST',
      headers: { ...json, 'Latency-Budget-Ms': '100000', 'Budget-Mode': 'strict' },
      body: JSON.stringify({ inputs: [LONG_TEXT, 'bad'] }),
    });
    assert.equal(predict.status, 200);
    const body: Json = JSON.parse(predict.body);
    assert.equal(body.subnet.id, LARGEST_POINT);
    assert.equal(body.budget.mode, 'strict');
    assert.equal(body.budget.met, true);
    assert.equal(predict.headers['subnet-id'], LARGEST_POINT);
    assert.match(
      String(predict.headers['server-timing']),
      /^queue;dur=[\d.]+, inference;dur=[\d.]+, total;dur=[\d.]+$/,
    );

    const infer = await send(`${base}/v2/models/${FIXTURE_MODEL}/infer`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: ['fine'] }] }),
    });
    assert.equal(infer.status, 200);
    assert.equal(JSON.parse(infer.body).outputs[0].data.length, 1);

    assert.equal((await send(`${base}/v2/health/live`)).status, 200);
    assert.equal((await send(`${base}/v2/health/ready`)).status, 200);
    assert.equal(JSON.parse((await send(`${base}/v1/models/${FIXTURE_MODEL}`)).body).catalog.length, 5);
    assert.match((await send(`${base}/metrics`)).body, /serving_requests_total/);

    const tooLarge = await send(`${base}/v1/models/${FIXTURE_MODEL}/predict`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ inputs: ['z'.repeat(1024 * 1024 + 1)] }),
    });
    assert.equal(tooLarge.status, 413);
    assert.match(String(tooLarge.headers['content-type']), /^application\/problem\+json/);
    assert.equal(JSON.parse(tooLarge.body).code, 'PAYLOAD_TOO_LARGE');

    const broken = await send(`${base}/v1/models/${FIXTURE_MODEL}/predict`, {
      method: 'POST',
      headers: json,
      body: '{"inputs": ["unterminated',
    });
    assert.equal(broken.status, 400);
    assert.equal(JSON.parse(broken.body).code, 'INVALID_REQUEST');

    const unknown = await send(`${base}/v1/models/nope/predict`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ inputs: ['x'] }),
    });
    assert.equal(unknown.status, 404);
    assert.equal(JSON.parse(unknown.body).code, 'UNKNOWN_MODEL');
  });

  it('drains on shutdown: a request in flight completes, new ones are refused, then the engines are freed', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const { gates, wrapPool } = gatedPools();
    const app = await readyApp(t, testConfig(modelRoot), { wrapPool });
    const base = await listen(app);
    const gate = gates[0]!;
    let disposed = false;
    const dispose = gate.dispose.bind(gate);
    gate.dispose = async () => {
      disposed = true;
      await dispose();
    };
    gate.close();
    const inFlight = send(`${base}/v1/models/${FIXTURE_MODEL}/predict`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ inputs: ['held in flight'] }),
    });
    await until(() => gate.waiting === 1);

    let closed = false;
    const closing = app.close().then(() => {
      closed = true;
    });
    // New connections are refused (the listener is closed); the host refuses new work too.
    await until(() => app.models.isClosed || !app.server.listening);
    await assert.rejects(send(`${base}/v2/health/live`), /ECONNREFUSED/);
    assert.equal(closed, false);
    assert.equal(disposed, false);

    gate.open();
    const response = await inFlight;
    assert.equal(response.status, 200);
    assert.equal(JSON.parse(response.body).outputs.length, 1);
    await closing;
    assert.equal(disposed, true);
  });

  it('answers 503 SHUTTING_DOWN to a request pipelined on a busy connection while draining', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const { gates, wrapPool } = gatedPools();
    const logs: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(line) });
    const app = await readyApp(t, testConfig(modelRoot), { wrapPool, logger });
    const base = await listen(app);
    const gate = gates[0]!;
    gate.close();
    const socket = connect((app.server.address() as AddressInfo).port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const payload = JSON.stringify({ inputs: ['held'] });
    socket.write(
      `POST /v1/models/${FIXTURE_MODEL}/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
    );
    await until(() => gate.waiting === 1);
    const closing = app.close();
    await until(() => !app.server.listening);
    assert.equal((await send(`${base}/v2/health/live`).catch((e: Error) => e)) instanceof Error, true);
    // The connection is busy (its request is held), so it stays open: a second request arrives on it.
    socket.write(`GET /v2/models/${FIXTURE_MODEL} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await until(() => logs.some((line) => line.includes('SHUTTING_DOWN')));
    gate.open();
    await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 5000))]);
    socket.destroy();
    await closing;
    const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '503']);
    assert.match(received, /"code":"SHUTTING_DOWN"/);
    assert.match(received, /retry-after: 1/i);
    assert.match(received, /connection: close/i);
  });
});
