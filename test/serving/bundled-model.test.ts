import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SUPERNET_URI } from '../../serving/config.ts';
import { readyApp, testConfig } from './fixture.ts';

// The supernet committed under models/ is what `npm start` serves: it must verify, load and be right on
// reviews a person finds obvious, at its cheapest and at its most accurate operating point.
describe('the bundled default supernet', () => {
  it('verifies, serves every budget, and classifies clear reviews at both ends of its catalog', async (t) => {
    const app = await readyApp(t, testConfig(DEFAULT_SUPERNET_URI));
    const model = (await app.inject({ url: '/v1/models/imdb-sentiment' })).json() as {
      catalog: Array<{
        id: string;
        devAccuracy: number;
        testAccuracy: number | null;
        devMacroF1: number | null;
        flops: number;
        memoryBytes: number;
        config: { precision: 'fp32' | 'int8' };
      }>;
    };
    assert.ok(model.catalog.length >= 2, `catalog of ${model.catalog.length}`);
    for (const point of model.catalog) {
      assert.ok(point.devAccuracy > 0.75 && (point.testAccuracy ?? 0) > 0.75, JSON.stringify(point));
      assert.ok(point.devMacroF1 !== null && point.devMacroF1 > 0.75, JSON.stringify(point));
    }
    // int8 points, each measured within half a point of dev accuracy of its fp32 twin, in less memory.
    const int8 = model.catalog.filter((p) => p.config.precision === 'int8');
    assert.ok(int8.length >= 2, `${int8.length} int8 points`);
    for (const point of int8) {
      assert.ok(point.id.endsWith('-int8'), point.id);
      const twin = model.catalog.find((p) => p.id === point.id.replace(/-int8$/, ''));
      if (!twin) continue;
      assert.ok(Math.abs(point.devAccuracy - twin.devAccuracy) <= 0.005, `${point.id} against ${twin.id}`);
      assert.ok(point.memoryBytes < twin.memoryBytes, point.id);
    }
    const byFlops = [...model.catalog].sort((a, b) => a.flops - b.flops);
    const reviews = [
      'One of the best films I have ever seen. The acting is superb, the story moving, and I loved every minute of it.',
      'A terrible, boring movie. The plot makes no sense, the acting is awful and I regret wasting two hours on it.',
    ];
    const ends = [byFlops[0]!.id, byFlops.at(-1)!.id, int8[0]!.id, int8.at(-1)!.id];
    for (const pin of new Set(ends)) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/models/imdb-sentiment/predict',
        headers: { 'subnet-id': pin },
        payload: { inputs: reviews },
      });
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json() as { subnet: { id: string }; outputs: Array<{ label: string }> };
      assert.equal(body.subnet.id, pin);
      assert.deepEqual(
        body.outputs.map((o) => o.label),
        ['positive', 'negative'],
        pin,
      );
    }
    // A tight budget and no budget both get an answer from the catalog.
    for (const headers of [{ 'latency-budget-ms': '1' }, {}]) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/models/imdb-sentiment/predict',
        headers,
        payload: { inputs: [reviews[0]] },
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.ok(model.catalog.some((p) => p.id === response.headers['subnet-id']));
    }
  });

  it('serves the Reuters topics model beside it: eight labels, macro-F1 recorded, clear stories right at both ends', async (t) => {
    const app = await readyApp(t, testConfig(DEFAULT_SUPERNET_URI));
    const listed = (await app.inject({ url: '/v1/models' })).json() as {
      models: Array<{ name: string; task: { input: string; labels: number } }>;
    };
    assert.deepEqual(
      listed.models.map((m) => [m.name, m.task.labels]),
      [
        ['imdb-sentiment', 2],
        ['reuters-r8', 8],
      ],
    );
    const model = (await app.inject({ url: '/v1/models/reuters-r8' })).json() as {
      labels: string[];
      catalog: Array<{
        id: string;
        devAccuracy: number;
        devMacroF1: number | null;
        testMacroF1: number | null;
        flops: number;
      }>;
    };
    assert.deepEqual(model.labels, [
      'acq',
      'crude',
      'earn',
      'interest',
      'money-fx',
      'ship',
      'sugar',
      'trade',
    ]);
    assert.ok(model.catalog.length >= 2);
    for (const point of model.catalog) {
      assert.ok(point.devAccuracy > 0.85, JSON.stringify(point));
      assert.ok((point.devMacroF1 ?? 0) > 0.5 && (point.testMacroF1 ?? 0) > 0.5, JSON.stringify(point));
    }
    const byFlops = [...model.catalog].sort((a, b) => a.flops - b.flops);
    const stories = [
      'Acme Corp said it agreed to acquire Widget Inc for 35 dlrs a share in cash, or about 120 mln dlrs. The merger was approved by both boards and the acquisition is expected to close in the second quarter.',
      'Shr 42 cts vs 31 cts. Net 4.2 mln dlrs vs 3.1 mln. Revs 51.3 mln vs 44.9 mln. Qtly div eight cts vs eight cts prior, pay April 15, record March 31.',
    ];
    for (const pin of [byFlops[0]!.id, byFlops.at(-1)!.id]) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/models/reuters-r8/predict',
        headers: { 'subnet-id': pin },
        payload: { inputs: stories },
      });
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json() as { outputs: Array<{ label: string }> };
      assert.deepEqual(
        body.outputs.map((o) => o.label),
        ['acq', 'earn'],
        pin,
      );
    }
  });
});
