import * as hdr from 'hdr-histogram-js';
import type { ClassResult } from './report-schema.ts';

// What the load generator saw of one answer.
export interface Observation {
  status: number;
  // On the load generator's clock: from writing the request to reading the whole answer.
  clientMs: number;
  // Server-Timing total (undefined when absent: errors, or a server that does not send it).
  serverMs: number | undefined;
  queueMs: number | undefined;
  inferenceMs: number | undefined;
  // From a 2xx body.
  subnet: string | undefined;
  accuracy: number | undefined;
  memoryBytes: number | undefined;
  budgetMet: boolean | undefined;
}

// What a budget class asks for.
export interface ClassBudget {
  name: string;
  latencyBudgetMs: number | undefined;
  memoryBudgetMb: number | undefined;
}

const REFUSALS = new Set([422, 503]);

// Microseconds, so that sub-millisecond answers keep three significant digits.
const toMicros = (ms: number) => Math.max(1, Math.round(ms * 1000));

function newHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

// Per-class accumulator of one run: client and server latency histograms (2xx only), budget attainment,
// refusals, errors, and the operating points served with their accuracy.
export class ClassStats {
  readonly budget: ClassBudget;
  private readonly client = newHistogram();
  private readonly server = newHistogram();
  private readonly queue = newHistogram();
  private inferenceSum = 0;
  private inferenceCount = 0;
  private count = 0;
  private ok = 0;
  private within = 0;
  private withinClient = 0;
  private reportedMet = 0;
  private refused = 0;
  private errors = 0;
  private accuracySum = 0;
  private accuracyCount = 0;
  private readonly subnets = new Map<string, number>();

  constructor(budget: ClassBudget) {
    this.budget = budget;
  }

  get observed(): number {
    return this.count;
  }

  record(o: Observation): void {
    this.count++;
    if (o.status < 200 || o.status >= 300) {
      if (REFUSALS.has(o.status)) this.refused++;
      else this.errors++;
      return;
    }
    this.ok++;
    this.client.recordValue(toMicros(o.clientMs));
    if (o.serverMs !== undefined) this.server.recordValue(toMicros(o.serverMs));
    if (o.queueMs !== undefined) this.queue.recordValue(toMicros(o.queueMs));
    if (o.inferenceMs !== undefined) {
      this.inferenceSum += o.inferenceMs;
      this.inferenceCount++;
    }
    if (o.budgetMet === true) this.reportedMet++;
    if (o.accuracy !== undefined) {
      this.accuracySum += o.accuracy;
      this.accuracyCount++;
    }
    if (o.subnet !== undefined) this.subnets.set(o.subnet, (this.subnets.get(o.subnet) ?? 0) + 1);
    const { latencyBudgetMs, memoryBudgetMb } = this.budget;
    const memoryOk =
      memoryBudgetMb === undefined ||
      (o.memoryBytes !== undefined && o.memoryBytes <= memoryBudgetMb * 1024 * 1024);
    // Without Server-Timing, the client's clock is the only one (and an upper bound of the server's).
    const serverMs = o.serverMs ?? o.clientMs;
    if (memoryOk && (latencyBudgetMs === undefined || serverMs <= latencyBudgetMs)) this.within++;
    if (memoryOk && (latencyBudgetMs === undefined || o.clientMs <= latencyBudgetMs)) this.withinClient++;
  }

  // The class's figures over a run of `durationS` seconds.
  summarize(durationS: number): ClassResult {
    const pct = (h: hdr.Histogram, p: number) =>
      h.totalCount === 0 ? null : Math.round(h.getValueAtPercentile(p)) / 1000;
    const ratio = (n: number, d: number) => (d === 0 ? null : n / d);
    return {
      name: this.budget.name,
      budgetMs: this.budget.latencyBudgetMs ?? null,
      memoryBudgetMb: this.budget.memoryBudgetMb ?? null,
      count: this.count,
      okCount: this.ok,
      p50Ms: pct(this.client, 50),
      p95Ms: pct(this.client, 95),
      p99Ms: pct(this.client, 99),
      maxMs: this.client.totalCount === 0 ? null : this.client.maxValue / 1000,
      serverP50Ms: pct(this.server, 50),
      serverP95Ms: pct(this.server, 95),
      serverP99Ms: pct(this.server, 99),
      queueP50Ms: pct(this.queue, 50),
      queueP99Ms: pct(this.queue, 99),
      meanInferenceMs: this.inferenceCount === 0 ? null : this.inferenceSum / this.inferenceCount,
      attainment: ratio(this.within, this.count),
      attainmentClient: ratio(this.withinClient, this.count),
      reportedMet: ratio(this.reportedMet, this.ok),
      refused: ratio(this.refused, this.count),
      refusedCount: this.refused,
      errorCount: this.errors,
      meanAccuracy: this.accuracyCount === 0 ? null : this.accuracySum / this.accuracyCount,
      throughputRps: this.ok / durationS,
      subnets: Object.fromEntries([...this.subnets].sort((a, b) => b[1] - a[1])),
    };
  }

  // Frees the histograms' buffers.
  destroy(): void {
    this.client.destroy();
    this.server.destroy();
    this.queue.destroy();
  }
}
