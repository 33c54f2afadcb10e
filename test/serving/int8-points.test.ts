import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { CostTable } from '../../src/model/accounting.ts';
import {
  FIXTURE_ARCH,
  FIXTURE_MODEL,
  FIXTURE_POINTS,
  int8FixtureFolder,
  LARGEST_POINT,
  LONG_TEXT,
  readyApp,
  testConfig,
} from './fixture.ts';

// biome-ignore lint/suspicious/noExplicitAny: responses are checked field by field
type Json = any;

const MIB = 2 ** 20;
const LARGEST = FIXTURE_POINTS[FIXTURE_POINTS.length - 1]!;

describe('int8 operating points in serving', () => {
  it('chooses an int8 point over real HTTP when only it fits the memory budget, and reports it', async (t) => {
    const app = await readyApp(t, testConfig(await int8FixtureFolder(t)));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const predict = (headers: Record<string, string>) =>
      fetch(`${base}/v1/models/${FIXTURE_MODEL}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ inputs: [LONG_TEXT] }),
      });

    // The long text is read to the largest point's 128 tokens: its memory in each precision for this request.
    const fp32Bytes = new CostTable(FIXTURE_ARCH, LARGEST.subnet).memoryBytes(1, LARGEST.tokens);
    const int8Bytes = new CostTable(FIXTURE_ARCH, LARGEST.subnet, 'int8').memoryBytes(1, LARGEST.tokens);
    assert.ok(int8Bytes < fp32Bytes);
    const budgetMb = (fp32Bytes + int8Bytes) / 2 / MIB;

    const loose = await predict({ 'Latency-Budget-Ms': '100000' });
    assert.equal(loose.status, 200);
    assert.equal(loose.headers.get('subnet-id'), LARGEST_POINT);

    const tight = await predict({
      'Latency-Budget-Ms': '100000',
      'Memory-Budget-Mb': budgetMb.toFixed(6),
      'Budget-Mode': 'strict',
    });
    const body: Json = await tight.json();
    assert.equal(tight.status, 200, JSON.stringify(body));
    assert.equal(tight.headers.get('subnet-id'), `${LARGEST_POINT}-int8`);
    assert.equal(body.subnet.id, `${LARGEST_POINT}-int8`);
    assert.ok(body.subnet.id.endsWith('-int8'));
    assert.equal(body.subnet.config.precision, 'int8');
    assert.equal(body.subnet.memoryBytes, int8Bytes);
    assert.ok(body.subnet.memoryBytes <= budgetMb * MIB);
    assert.equal(body.budget.met, true);
    assert.equal(body.outputs.length, 1);
    assert.ok(Math.abs(body.outputs[0].scores.negative + body.outputs[0].scores.positive - 1) < 1e-6);

    // The catalog lists both twins with their precision, the int8 one smaller.
    const catalog: Json = await (await fetch(`${base}/v1/models/${FIXTURE_MODEL}`)).json();
    const byId = new Map<string, Json>(catalog.catalog.map((p: Json) => [p.id, p]));
    assert.equal(byId.size, 2 * FIXTURE_POINTS.length);
    assert.equal(byId.get(LARGEST_POINT).config.precision, 'fp32');
    assert.equal(byId.get(`${LARGEST_POINT}-int8`).config.precision, 'int8');
    assert.ok(byId.get(`${LARGEST_POINT}-int8`).memoryBytes < byId.get(LARGEST_POINT).memoryBytes);

    // Pinning the int8 point by id runs it.
    const pinned = await predict({ 'Subnet-Id': `${LARGEST_POINT}-int8` });
    assert.equal(pinned.status, 200);
    assert.equal(pinned.headers.get('subnet-id'), `${LARGEST_POINT}-int8`);
  });

  it('simulates int8 points on the tfjs engine, says so at start, and answers as onnxruntime does', async (t) => {
    const modelRoot = await int8FixtureFolder(t);
    const logs: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(line) });
    const scores = async (engine: 'onnx' | 'tfjs'): Promise<number[]> => {
      const app = await readyApp(t, testConfig(modelRoot, { ENGINE: engine, TFJS_BACKEND: 'wasm' }), {
        ...(engine === 'tfjs' && { logger }),
      });
      const response = await app.inject({
        method: 'POST',
        url: `/v1/models/${FIXTURE_MODEL}/predict`,
        headers: { 'subnet-id': `${LARGEST_POINT}-int8` },
        payload: { inputs: [LONG_TEXT, 'A dull film.'] },
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.headers['subnet-id'], `${LARGEST_POINT}-int8`);
      return (response.json() as Json).outputs.map((o: Json) => o.scores.positive);
    };
    const [onnx, tfjs] = [await scores('onnx'), await scores('tfjs')];
    for (let i = 0; i < onnx.length; i++)
      assert.ok(Math.abs(onnx[i]! - tfjs[i]!) < 0.02, `${onnx} against ${tfjs}`);
    assert.ok(
      logs.some((line) => line.includes('int8 subnets run simulated on tfjs')),
      'a log line names the simulation',
    );
  });
});
