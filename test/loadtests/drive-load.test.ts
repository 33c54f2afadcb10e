import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { driveLoad } from '../../loadtests/drive-load.ts';
import type { TrafficClass } from '../../loadtests/traffic-mix.ts';

const cls = (name: string, headers: Record<string, string>, latencyBudgetMs?: number): TrafficClass => ({
  name,
  latencyBudgetMs,
  memoryBudgetMb: undefined,
  weight: 1,
  inSlo: latencyBudgetMs !== undefined,
  headers,
});

// A stand-in for the API: answers each class with its own operating point, refuses the 'refused' class, and
// echoes the pinned Subnet-Id.
async function fakeApi(t: { after(fn: () => void): void }): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      const budget = request.headers['latency-budget-ms'];
      const pin = request.headers['subnet-id'];
      seen.push(`${request.method} ${request.url} ${JSON.parse(body).inputs.length}`);
      if (budget === '7') {
        response.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1' });
        response.end('{"code":"OVERLOADED"}');
        return;
      }
      const subnet = typeof pin === 'string' ? pin : budget === undefined ? 'big-t64' : 'small-t16';
      response.writeHead(200, {
        'content-type': 'application/json',
        'server-timing': `queue;dur=0.5, inference;dur=1.25, total;dur=${budget === undefined ? 30 : 2}`,
      });
      response.end(
        JSON.stringify({
          subnet: { id: subnet, accuracy: subnet.startsWith('big') ? 0.9 : 0.7, memoryBytes: 1000 },
          budget: { met: true },
          outputs: [],
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => server.close());
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { url: `http://127.0.0.1:${address.port}`, seen };
}

describe('driveLoad', () => {
  it('files every answer under the class that sent it, with its body and Server-Timing', async (t) => {
    const { url, seen } = await fakeApi(t);
    const classes = [
      cls('fast', { 'latency-budget-ms': '5' }, 5),
      cls('refused', { 'latency-budget-ms': '7' }, 7),
      cls('none', {}),
    ];
    const m = await driveLoad({
      url,
      model: 'm',
      classes,
      texts: ['a', 'b c'],
      rps: 60,
      durationS: 1,
      seed: 3,
    });
    assert.equal(m.unmatched, 0);
    assert.equal(m.unparsed, 0);
    assert.ok(seen.length > 0);
    assert.ok(seen.every((line) => line === 'POST /v1/models/m/predict 1'));
    const [fast, refused, none] = m.classes;
    assert.ok(fast && refused && none);
    assert.ok(fast.count > 0 && refused.count > 0 && none.count > 0);
    assert.deepEqual(Object.keys(fast.subnets), ['small-t16']);
    assert.deepEqual(Object.keys(none.subnets), ['big-t64']);
    assert.ok(Math.abs(fast.meanAccuracy! - 0.7) < 1e-9);
    assert.ok(Math.abs(none.meanAccuracy! - 0.9) < 1e-9);
    // Server-Timing total 2 ms within a 5 ms budget; no budget: answered is attained.
    assert.equal(fast.attainment, 1);
    assert.equal(fast.serverP50Ms, 2);
    assert.equal(fast.queueP50Ms, 0.5);
    assert.equal(fast.meanInferenceMs, 1.25);
    assert.equal(none.attainment, 1);
    assert.equal(refused.okCount, 0);
    assert.equal(refused.refused, 1);
    assert.equal(refused.attainment, 0);
    assert.equal(m.all.count, fast.count + refused.count + none.count);
    assert.equal(m.statusCounts['503'], refused.count);
  });

  it('pins the operating point on every request when asked', async (t) => {
    const { url } = await fakeApi(t);
    const m = await driveLoad({
      url,
      model: 'm',
      classes: [cls('fast', { 'latency-budget-ms': '5' }, 5), cls('none', {})],
      texts: ['a'],
      rps: undefined,
      connections: 2,
      durationS: 1,
      pin: 'pinned-t8',
      seed: 1,
    });
    assert.equal(m.unmatched, 0);
    for (const c of m.classes) assert.deepEqual(Object.keys(c.subnets), ['pinned-t8']);
  });
});
