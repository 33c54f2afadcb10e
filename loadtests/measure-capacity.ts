import { loadavg } from 'node:os';
import { type DriveLoadOptions, driveLoad, type RunMeasurement } from './drive-load.ts';
import type { LoadTestReport } from './report-schema.ts';

type CapacityStep = LoadTestReport['capacity']['steps'][number];

// How the capacity search runs.
export interface MeasureCapacityOptions {
  load: Omit<DriveLoadOptions, 'rps' | 'durationS' | 'onProgress' | 'connections'>;
  probeS: number;
  stepS: number;
  // Fixed-rate bisection steps at most (the probe comes on top).
  maxSteps: number;
  // A step whose p99 (all classes, 2xx) exceeds this is not sustainable.
  latencyCapMs: number;
  // Waits for the server to drain before each step.
  settle: () => Promise<void>;
  onProgress?: (label: string, done: number) => void;
}

export interface CapacityResult {
  capacityRps: number;
  probeRps: number;
  capped: boolean;
  method: string;
  steps: CapacityStep[];
}

// The bisection's starting bracket, as fractions of the closed-loop probe's throughput.
const LOW = 0.25;
const HIGH = 1.25;

// Judges one fixed-rate step: sustainable when the server answered what was sent within the step, the load
// generator could send what was offered, at most 1% failed (refused, errors, timeouts), and p99 stayed under the
// cap (a queue that grows shows there first).
export function judgeStep(offeredRps: number, m: RunMeasurement, latencyCapMs: number): CapacityStep {
  const sent = m.sentRps * m.durationS;
  const failed = m.all.count - m.all.okCount + m.errors + m.timeouts;
  const failedFraction = m.all.count === 0 ? 1 : Math.min(1, failed / Math.max(m.all.count, 1));
  const reasons: string[] = [];
  if (m.sentRps < 0.9 * offeredRps) reasons.push(`sent ${m.sentRps.toFixed(1)}/s < 90% of offered`);
  if (m.all.count < 0.95 * sent) reasons.push(`answered ${m.all.count} of ${Math.round(sent)} sent`);
  if (failedFraction > 0.01) reasons.push(`${(failedFraction * 100).toFixed(1)}% failed or refused`);
  if (m.all.p99Ms === null || m.all.p99Ms > latencyCapMs) {
    reasons.push(`p99 ${m.all.p99Ms?.toFixed(0) ?? '-'} ms > ${latencyCapMs.toFixed(0)} ms`);
  }
  return {
    offeredRps,
    sentRps: m.sentRps,
    okRps: m.okRps,
    failedFraction,
    p99Ms: m.all.p99Ms,
    sustainable: reasons.length === 0,
    reason: reasons.length === 0 ? 'sustained' : reasons.join('; '),
    loadAvg: loadavg() as [number, number, number],
  };
}

// The most requests per second of the mix the server sustains under elastic selection: a closed-loop probe
// (32 connections) estimates saturation; then fixed-rate steps bisect (geometrically) between 0.25x and 1.25x of
// it, each step judged by judgeStep. The capacity is the highest rate that was sustained; `capped` when no step
// failed (the capacity is at least that).
export async function measureCapacity(options: MeasureCapacityOptions): Promise<CapacityResult> {
  const steps: CapacityStep[] = [];
  await options.settle();
  options.onProgress?.('capacity: closed-loop probe', 0);
  const probe = await driveLoad({
    ...options.load,
    rps: undefined,
    connections: 32,
    durationS: options.probeS,
    onProgress: (f) => options.onProgress?.('capacity: closed-loop probe', f * options.probeS),
  });
  const probeRps = Math.max(1, probe.okRps);
  let spent = options.probeS;

  const step = async (rps: number): Promise<CapacityStep> => {
    await options.settle();
    const label = `capacity: ${rps.toFixed(0)} req/s`;
    const before = spent;
    const m = await driveLoad({
      ...options.load,
      rps,
      durationS: options.stepS,
      onProgress: (f) => options.onProgress?.(label, before + f * options.stepS),
    });
    spent += options.stepS;
    const judged = judgeStep(rps, m, options.latencyCapMs);
    steps.push(judged);
    return judged;
  };

  // Geometric bisection between rates assumed sustainable and not (a closed-loop probe is near saturation).
  let lo = Math.max(1, Math.round(LOW * probeRps));
  let hi = Math.max(lo + 2, Math.round(HIGH * probeRps));
  let loVerified = false;
  let hiVerified = false;
  for (let i = 0; i < options.maxSteps; i++) {
    const mid = Math.round(Math.sqrt(lo * hi));
    if (mid <= lo || mid >= hi) break;
    if ((await step(mid)).sustainable) {
      lo = mid;
      loVerified = true;
    } else {
      hi = mid;
      hiVerified = true;
    }
  }
  // Nothing sustained yet: try the low end itself, then halve it (twice at most).
  for (let i = 0; !loVerified && i < 3; i++) {
    if ((await step(lo)).sustainable) loVerified = true;
    else if (lo > 1) lo = Math.max(1, Math.round(lo / 2));
    else break;
  }
  return {
    capacityRps: lo,
    probeRps,
    capped: !hiVerified,
    method:
      `closed-loop probe (32 connections, ${options.probeS} s) = ${probeRps.toFixed(0)} req/s; then ${steps.length} fixed-rate ` +
      `steps of ${options.stepS} s bisecting geometrically between ${LOW}x and ${HIGH}x of it; a step is sustained unless ` +
      `sent < 90% of offered, answered < 95% of sent, > 1% failed or refused, or p99 (all classes) > ` +
      `${options.latencyCapMs.toFixed(0)} ms; capacity = the highest sustained rate`,
    steps,
  };
}
