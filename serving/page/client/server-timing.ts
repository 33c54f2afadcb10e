// One metric of a Server-Timing header: `queue;dur=0.052`.
export interface TimingEntry {
  name: string;
  durationMs: number;
}

// Parses a Server-Timing header (RFC-less but W3C: `name;dur=ms;desc="..."`, comma-separated); entries without
// a duration are left out.
export function parseServerTiming(header: string | null): TimingEntry[] {
  if (header === null) return [];
  const entries: TimingEntry[] = [];
  for (const part of header.split(',')) {
    const [name, ...params] = part.split(';').map((s) => s.trim());
    const dur = params.find((p) => p.toLowerCase().startsWith('dur='))?.slice(4);
    const durationMs = dur === undefined ? Number.NaN : Number(dur);
    if (name && Number.isFinite(durationMs)) entries.push({ name, durationMs });
  }
  return entries;
}
