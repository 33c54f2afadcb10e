import type { ApiClient } from './api-client.ts';

// The per-request server time that no catalog latency includes (HTTP, JSON, tokenizing, selection): the
// median of Server-Timing total - queue - inference over `count` sequential requests pinned to `pin` on an
// idle server, cycling through `texts`. 0 when the server sends no Server-Timing.
export async function measureOverhead(
  api: ApiClient,
  model: string,
  pin: string,
  texts: readonly string[],
  count: number,
): Promise<number> {
  const overheads: number[] = [];
  for (let i = 0; i < count; i++) {
    const { status, timing } = await api.predict(model, texts[i % texts.length]!, { 'subnet-id': pin });
    const { total, queue, inference } = timing;
    if (status === 200 && total !== undefined && inference !== undefined) {
      overheads.push(Math.max(0, total - (queue ?? 0) - inference));
    }
  }
  if (overheads.length === 0) return 0;
  overheads.sort((a, b) => a - b);
  return overheads[Math.floor(overheads.length / 2)]!;
}
