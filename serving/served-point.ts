import type { Manifest } from '../src/artifact/manifest.ts';
import { CostTable } from '../src/model/accounting.ts';
import {
  assertSubnetFits,
  type CatalogPoint,
  formatSubnetId,
  formatSubnetPrecisionId,
  type Precision,
  pointPrecision,
  type SubnetConfig,
} from '../src/model/config.ts';

// One catalog operating point, with what serving precomputes for it: its place in the catalog, the pool's
// subnet it runs on and its cost table (weights in its precision).
export interface ServedPoint {
  index: number;
  id: string;
  entry: CatalogPoint;
  subnetId: string;
  precision: Precision;
  // Index into the pool's distinct subnets (a subnet in one precision).
  subnetIndex: number;
  cost: CostTable;
}

// A subnet the pool materializes: its config and the precision it runs in.
export interface ServedSubnet {
  subnet: SubnetConfig;
  precision: Precision;
}

// The catalog as serving runs it: every operating point (checked to fit the architecture) and the distinct
// subnets they run (an int8 point and its fp32 twin are two), which the pool materializes once each.
export function servedPoints(manifest: Manifest): { points: ServedPoint[]; subnets: ServedSubnet[] } {
  const arch = manifest.architecture;
  const subnets: ServedSubnet[] = [];
  const subnetIndex = new Map<string, number>();
  const points = manifest.catalog.map((entry, index): ServedPoint => {
    assertSubnetFits(arch, entry.subnet);
    const precision = pointPrecision(entry);
    const key = formatSubnetPrecisionId(entry.subnet, precision);
    if (!subnetIndex.has(key)) {
      subnetIndex.set(key, subnets.length);
      subnets.push({ subnet: entry.subnet, precision });
    }
    return {
      index,
      id: entry.id,
      entry,
      subnetId: formatSubnetId(entry.subnet),
      precision,
      subnetIndex: subnetIndex.get(key)!,
      cost: new CostTable(arch, entry.subnet, precision),
    };
  });
  return { points, subnets };
}
