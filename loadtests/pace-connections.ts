import type autocannon from 'autocannon';

// The parts of an autocannon 9 client that rate limiting uses (lib/httpClient.js): a budget of `rate` requests
// per window, refilled by the `rateInterval` timer.
interface RateLimitedClient {
  rate?: number;
  rateInterval?: NodeJS.Timeout;
  reqsMadeThisSecond: number;
  paused?: boolean;
  destroyed: boolean;
  _doRequest(): void;
}

// How the connections of a fixed-rate run are paced: each sends one request per `periodMs`, connection i
// starting `i * periodMs / connections` into the period, so that arrivals are evenly spaced at 1/rps.
export function pacing(
  rps: number,
  connections: number,
): { periodMs: number; phaseMs(index: number): number } {
  const periodMs = (connections / rps) * 1000;
  return { periodMs, phaseMs: (index) => ((index % connections) * periodMs) / connections };
}

// A `setupClient` for an autocannon run started with `overallRate: rps` that spaces the arrivals evenly.
// autocannon refills every connection's budget on one-second timers started together, so each connection fires
// its whole budget at the start of each second: a burst of `connections` concurrent requests, then silence,
// which is not the offered load a latency test means. Here every connection gets a budget of one request per
// period of connections/rps seconds, on its own phase. A connection still waiting for an answer when its
// period starts sends right after the answer (pipelining 1): past saturation the load is closed-loop, bounded by
// the connections. Throws when the client does not look like autocannon 9's (the harness relies on it).
export function paceConnections(rps: number, connections: number): (client: autocannon.Client) => void {
  const { periodMs, phaseMs } = pacing(rps, connections);
  let index = 0;
  return (client) => {
    const c = client as unknown as RateLimitedClient;
    if (typeof c._doRequest !== 'function' || typeof c.reqsMadeThisSecond !== 'number' || !c.rate) {
      throw new Error(
        'paceConnections: autocannon client internals changed (expected rate, reqsMadeThisSecond, _doRequest of autocannon 9)',
      );
    }
    const phase = phaseMs(index++);
    c.rate = 1;
    // Hold the first request (the constructor sends it right after setupClient returns) until the phase.
    c.reqsMadeThisSecond = 1;
    const refill = () => {
      c.reqsMadeThisSecond = 0;
      if (c.paused) {
        c.paused = false;
        c._doRequest();
      }
    };
    // The constructor starts its own one-second refill timer after setupClient returns: replace it with one
    // that keeps to absolute times (setInterval drifts late on a busy machine, and the rate with it).
    queueMicrotask(() => {
      if (c.rateInterval !== undefined) clearInterval(c.rateInterval);
      const start = performance.now() + phase;
      let period = 0;
      const tick = () => {
        if (c.destroyed) return;
        refill();
        period++;
        // destroy() clears whatever `rateInterval` holds.
        c.rateInterval = setTimeout(tick, Math.max(0, start + period * periodMs - performance.now()));
      };
      c.rateInterval = setTimeout(tick, phase);
    });
  };
}
