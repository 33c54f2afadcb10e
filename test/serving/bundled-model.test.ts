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
      }>;
    };
    assert.ok(model.catalog.length >= 2, `catalog of ${model.catalog.length}`);
    for (const point of model.catalog) {
      assert.ok(point.devAccuracy > 0.75 && (point.testAccuracy ?? 0) > 0.75, JSON.stringify(point));
      // Published before macro-F1 was recorded: it still loads, and says it has none.
      assert.equal(point.devMacroF1, null);
    }
    const byFlops = [...model.catalog].sort((a, b) => a.flops - b.flops);
    const reviews = [
      'One of the best films I have ever seen. The acting is superb, the story moving, and I loved every minute of it.',
      'A terrible, boring movie. The plot makes no sense, the acting is awful and I regret wasting two hours on it.',
    ];
    for (const pin of [byFlops[0]!.id, byFlops.at(-1)!.id]) {
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
});
