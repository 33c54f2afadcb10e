// What the server answered since the last summary: requests by status, and the slowest. Each request is logged
// at debug only (a line per request at info is most of a busy server's log volume); this is the info line that
// says what happened, logged every so often and at shutdown.
export class RequestSummary {
  private requests = 0;
  private readonly statuses = new Map<number, number>();
  private slowestMs = 0;
  private since: number;
  private readonly now: () => number;

  constructor(now: () => number = () => Date.now()) {
    this.now = now;
    this.since = now();
  }

  record(status: number, ms: number): void {
    this.requests++;
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    if (ms > this.slowestMs) this.slowestMs = ms;
  }

  // The summary since the last one (undefined when nothing was answered), and a fresh start.
  take():
    | { requests: number; statuses: Record<string, number>; slowestMs: number; seconds: number }
    | undefined {
    const now = this.now();
    const seconds = Math.round((now - this.since) / 100) / 10;
    this.since = now;
    if (this.requests === 0) return undefined;
    const summary = {
      requests: this.requests,
      statuses: Object.fromEntries(
        [...this.statuses].sort(([a], [b]) => a - b).map(([s, n]) => [String(s), n]),
      ),
      slowestMs: Math.round(this.slowestMs * 1000) / 1000,
      seconds,
    };
    this.requests = 0;
    this.statuses.clear();
    this.slowestMs = 0;
    return summary;
  }
}
