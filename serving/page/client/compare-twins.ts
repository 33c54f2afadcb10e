// What the comparison reads of a catalog point (api.ts's CatalogPoint; kept apart from the DOM for node tests).
interface PointFigures {
  id: string;
  memoryBytes: number;
  calibratedLatencyMs: number;
  devAccuracy: number;
  config: { precision: string };
}

// An int8 point against its fp32 twin: the memory saved, how much faster it runs here, the accuracy difference.
export function compareTwins(int8: PointFigures, fp32: PointFigures): string {
  const savedMiB = (fp32.memoryBytes - int8.memoryBytes) / 1024 / 1024;
  const memory = `${Math.abs(savedMiB).toFixed(2)} MiB ${savedMiB >= 0 ? 'less' : 'more'} memory`;
  const latencyPercent = Math.round((int8.calibratedLatencyMs / fp32.calibratedLatencyMs - 1) * 100);
  const latency =
    latencyPercent === 0
      ? 'as fast'
      : `${Math.abs(latencyPercent)}% ${latencyPercent < 0 ? 'faster' : 'slower'}`;
  const points = Math.round((int8.devAccuracy - fp32.devAccuracy) * 10_000) / 100;
  const accuracy =
    points === 0
      ? 'the same dev accuracy'
      : `dev accuracy ${points > 0 ? '+' : '−'}${Math.abs(points).toFixed(2)} points`;
  return `against its fp32 twin: ${memory}, ${latency}, ${accuracy}`;
}

// An int8 point's fp32 twin (the same subnet and tokens), when the catalog holds it.
export function twinOf<P extends PointFigures>(point: P, byId: ReadonlyMap<string, P>): P | undefined {
  if (point.config.precision !== 'int8' || !point.id.endsWith('-int8')) return undefined;
  return byId.get(point.id.slice(0, -'-int8'.length));
}
