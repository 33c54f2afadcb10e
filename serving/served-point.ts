import type { CatalogEntry, Manifest } from '../src/artifact/manifest.ts';
import { assertSubnetFits, formatSubnetId, type SubnetConfig } from '../src/model/config.ts';
import { CostTable } from './cost-table.ts';

// One catalog operating point, with what serving precomputes for it.
export interface ServedPoint {
  index: number;
  id: string;
  entry: CatalogEntry;
  subnetId: string;
  // Index into the pool's distinct subnets.
  subnetIndex: number;
  cost: CostTable;
}

// The catalog as serving runs it: every operating point (checked to fit the architecture) and the distinct
// subnets they run, which the pool materializes once each.
export function servedPoints(manifest: Manifest): { points: ServedPoint[]; subnets: SubnetConfig[] } {
  const arch = manifest.architecture;
  const subnets: SubnetConfig[] = [];
  const subnetIndex = new Map<string, number>();
  const points = manifest.catalog.map((entry, index): ServedPoint => {
    assertSubnetFits(arch, entry.subnet);
    const subnetId = formatSubnetId(entry.subnet);
    if (!subnetIndex.has(subnetId)) {
      subnetIndex.set(subnetId, subnets.length);
      subnets.push(entry.subnet);
    }
    return {
      index,
      id: entry.id,
      entry,
      subnetId,
      subnetIndex: subnetIndex.get(subnetId)!,
      cost: new CostTable(arch, entry.subnet),
    };
  });
  return { points, subnets };
}
