import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LiveWindow, readScrape } from '../../../serving/page/client/live-stats.ts';
import type { MetricSample } from '../../../serving/page/client/prometheus-text.ts';

const PREDICT = '/v1/models/:model/predict';

// One scrape's samples: served requests per point, refused ones, budgets and gauges.
function samples(
  perPoint: Record<string, number>,
  refused: number,
  met: number,
  missed: number,
  extra: MetricSample[] = [],
): MetricSample[] {
  return [
    ...Object.entries(perPoint).map(([subnet, value]) => ({
      name: 'serving_requests_total',
      labels: { route: PREDICT, status: '200', subnet },
      value,
    })),
    {
      name: 'serving_requests_total',
      labels: { route: PREDICT, status: '503', subnet: 'none' },
      value: refused,
    },
    // The page's own scrapes are not inference.
    {
      name: 'serving_requests_total',
      labels: { route: '/metrics', status: '200', subnet: 'none' },
      value: 99,
    },
    { name: 'serving_budget_total', labels: { outcome: 'met', mode: 'best-effort' }, value: met },
    { name: 'serving_budget_total', labels: { outcome: 'missed', mode: 'best-effort' }, value: missed },
    { name: 'serving_engine_utilization', labels: {}, value: 0.5 },
    { name: 'serving_queue_length', labels: {}, value: 2 },
    ...extra,
  ];
}

describe('LiveWindow (the live panel of the page)', () => {
  it('turns counters into requests per second, the share of budgets met and points served', () => {
    const window = new LiveWindow(60_000, 5_000);
    assert.equal(window.view().requestsPerSecond, undefined);
    window.add(readScrape(samples({ a: 10 }, 1, 10, 0), 0, 'm'));
    assert.equal(window.view().requestsPerSecond, undefined);
    window.add(readScrape(samples({ a: 20, b: 5 }, 1, 22, 3), 5_000, 'm'));
    window.add(readScrape(samples({ a: 30, b: 10 }, 3, 35, 5), 10_000, 'm'));
    const view = window.view();
    // Last 5 s: (30 + 10 + 3) - (20 + 5 + 1) = 17 requests.
    assert.equal(view.requestsPerSecond, 17 / 5);
    assert.equal(view.rateSpanS, 5);
    // Window (10 s so far): met 25, missed 5.
    assert.equal(view.budgetsMetShare, 25 / 30);
    assert.equal(view.budgetsCounted, 30);
    assert.equal(view.windowS, 10);
    assert.deepEqual(view.points, [
      { id: 'a', count: 20, share: 20 / 30 },
      { id: 'b', count: 10, share: 10 / 30 },
    ]);
    assert.equal(view.utilization, 0.5);
    assert.equal(view.queueLength, 2);
  });

  it('keeps one minute, and reads a counter that went down as a restart', () => {
    const window = new LiveWindow(60_000, 5_000);
    for (let s = 0; s <= 90; s += 10)
      window.add(readScrape(samples({ a: s * 10 }, 0, s * 10, 0), s * 1000, 'm'));
    const view = window.view();
    assert.equal(view.windowS, 60);
    assert.deepEqual(view.points, [{ id: 'a', count: 600, share: 1 }]);
    window.add(readScrape(samples({ a: 4 }, 0, 4, 0), 95_000, 'm'));
    assert.equal(window.view().requestsPerSecond, 4 / 5);
  });

  it('leaves out samples labelled with another model', () => {
    const other = {
      name: 'serving_requests_total',
      labels: { model: 'other', route: PREDICT, subnet: 'x' },
      value: 50,
    };
    const mine = {
      name: 'serving_requests_total',
      labels: { model: 'm', route: PREDICT, subnet: 'y' },
      value: 7,
    };
    const scrape = readScrape(samples({}, 0, 0, 0, [other, mine]), 0, 'm');
    assert.equal(scrape.requests, 7);
    assert.deepEqual([...scrape.perPoint], [['y', 7]]);
  });
});
