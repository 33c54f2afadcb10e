import type { MetricSample } from './prometheus-text.ts';

// What one scrape of /metrics says about one model: counters (totals since the server started) and gauges.
export interface Scrape {
  atMs: number;
  // Inference requests answered (any status).
  requests: number;
  // Inference requests served, by operating point id.
  perPoint: ReadonlyMap<string, number>;
  budgetsMet: number;
  budgetsMissed: number;
  utilization: number | undefined;
  queueLength: number | undefined;
}

// What the page shows: rates and shares over recent scrapes.
export interface LiveView {
  // Inference requests per second over the last few seconds; undefined before two scrapes.
  requestsPerSecond: number | undefined;
  rateSpanS: number;
  // Share of served requests whose budget was met over the window; undefined when none was served.
  budgetsMetShare: number | undefined;
  budgetsCounted: number;
  windowS: number;
  // Requests per operating point over the window, most first.
  points: ReadonlyArray<{ id: string; count: number; share: number }>;
  utilization: number | undefined;
  queueLength: number | undefined;
}

// A request on an inference route: it was served by a point, or it was answered on a predict or infer route.
function isInference(labels: Readonly<Record<string, string>>): boolean {
  const subnet = labels.subnet;
  return (subnet !== undefined && subnet !== 'none') || /(predict|infer)$/.test(labels.route ?? '');
}

// Reads one scrape for `model`: samples labelled with another model are left out (a server of one model
// labels none).
export function readScrape(samples: readonly MetricSample[], atMs: number, model: string): Scrape {
  let requests = 0;
  let budgetsMet = 0;
  let budgetsMissed = 0;
  let utilization: number | undefined;
  let queueLength: number | undefined;
  const perPoint = new Map<string, number>();
  for (const { name, labels, value } of samples) {
    if (labels.model !== undefined && labels.model !== model) continue;
    if (name === 'serving_requests_total' && isInference(labels)) {
      requests += value;
      const subnet = labels.subnet;
      if (subnet !== undefined && subnet !== 'none')
        perPoint.set(subnet, (perPoint.get(subnet) ?? 0) + value);
    } else if (name === 'serving_budget_total') {
      if (labels.outcome === 'met') budgetsMet += value;
      else if (labels.outcome === 'missed') budgetsMissed += value;
    } else if (name === 'serving_engine_utilization') {
      utilization = Math.max(utilization ?? 0, value);
    } else if (name === 'serving_queue_length') {
      queueLength = (queueLength ?? 0) + value;
    }
  }
  return { atMs, requests, perPoint, budgetsMet, budgetsMissed, utilization, queueLength };
}

// Growth of a counter between two scrapes; a smaller value means the server restarted (counting from zero).
function growth(newer: number, older: number): number {
  return newer >= older ? newer - older : newer;
}

// The last minute of scrapes, turned into rates and shares.
export class LiveWindow {
  private scrapes: Scrape[] = [];

  constructor(
    readonly windowMs = 60_000,
    readonly rateWindowMs = 5_000,
  ) {}

  clear(): void {
    this.scrapes = [];
  }

  add(scrape: Scrape): void {
    this.scrapes.push(scrape);
    // Keep the newest scrape at or before the window's start, so the window is covered whole.
    while (this.scrapes.length > 2 && this.scrapes[1]!.atMs <= scrape.atMs - this.windowMs)
      this.scrapes.shift();
  }

  view(): LiveView {
    const newest = this.scrapes.at(-1);
    const oldest = this.scrapes[0];
    if (newest === undefined || oldest === undefined) {
      return {
        requestsPerSecond: undefined,
        rateSpanS: 0,
        budgetsMetShare: undefined,
        budgetsCounted: 0,
        windowS: 0,
        points: [],
        utilization: undefined,
        queueLength: undefined,
      };
    }
    const rateBase =
      this.scrapes.findLast((s) => s.atMs <= newest.atMs - this.rateWindowMs) ??
      (this.scrapes.length > 1 ? oldest : undefined);
    const rateSpanS = rateBase === undefined ? 0 : (newest.atMs - rateBase.atMs) / 1000;
    const met = growth(newest.budgetsMet, oldest.budgetsMet);
    const counted = met + growth(newest.budgetsMissed, oldest.budgetsMissed);
    const points = [...newest.perPoint]
      .map(([id, total]) => ({ id, count: growth(total, oldest.perPoint.get(id) ?? 0) }))
      .filter((p) => p.count > 0);
    const served = points.reduce((sum, p) => sum + p.count, 0);
    return {
      requestsPerSecond:
        rateBase === undefined || rateSpanS <= 0
          ? undefined
          : growth(newest.requests, rateBase.requests) / rateSpanS,
      rateSpanS,
      budgetsMetShare: counted > 0 ? met / counted : undefined,
      budgetsCounted: counted,
      windowS: (newest.atMs - oldest.atMs) / 1000,
      points: points
        .map((p) => ({ ...p, share: p.count / served }))
        .sort((a, b) => b.count - a.count || a.id.localeCompare(b.id)),
      utilization: newest.utilization,
      queueLength: newest.queueLength,
    };
  }
}
