// Milliseconds with about three significant digits: 0.052 ms, 1.33 ms, 12.4 ms, 250 ms.
export function formatMs(ms: number): string {
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(3)} ms`;
}

// Bytes in MiB, as budgets are given.
export function formatMiB(bytes: number): string {
  const mib = bytes / 1024 / 1024;
  return `${mib >= 100 ? Math.round(mib) : mib.toFixed(1)} MiB`;
}

// A share (0 to 1) as a percentage.
export function formatPercent(share: number, digits = 1): string {
  return `${(share * 100).toFixed(digits)}%`;
}

// A count with thousands separators.
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
