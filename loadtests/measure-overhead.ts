import type { ApiClient } from './api-client.ts';

// What an idle server adds to each request and how far its time strays, from `count` sequential requests pinned
// to `pin` (the cheapest point), cycling through `texts`:
//   overheadMs: the median of Server-Timing total - queue - inference (HTTP, JSON, tokenizing, selection), which
//               no catalog latency includes;
//   idleP99Ms:  the 99th percentile of Server-Timing total: the least budget that even the cheapest point, on an
//               idle server, meets for 99% of requests (host jitter: thread wake-ups, GC, a noisy VM).
// Both 0 when the server sends no Server-Timing.
export interface IdleTiming {
  overheadMs: number;
  idleP99Ms: number;
}

export async function measureOverhead(
  api: ApiClient,
  model: string,
  pin: string,
  texts: readonly string[],
  count: number,
): Promise<IdleTiming> {
  const overheads: number[] = [];
  const totals: number[] = [];
  for (let i = 0; i < count; i++) {
    const { status, timing } = await api.predict(model, texts[i % texts.length]!, { 'subnet-id': pin });
    const { total, queue, inference } = timing;
    if (status === 200 && total !== undefined && inference !== undefined) {
      overheads.push(Math.max(0, total - (queue ?? 0) - inference));
      totals.push(total);
    }
  }
  if (overheads.length === 0) return { overheadMs: 0, idleP99Ms: 0 };
  overheads.sort((a, b) => a - b);
  totals.sort((a, b) => a - b);
  return {
    overheadMs: overheads[Math.floor(overheads.length / 2)]!,
    idleP99Ms: totals[Math.min(totals.length - 1, Math.ceil(0.99 * totals.length) - 1)]!,
  };
}
