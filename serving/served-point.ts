import type { Manifest } from '../src/artifact/manifest.ts';
import { CostTable } from '../src/model/accounting.ts';
import {
  assertSubnetFits,
  type CatalogPoint,
  formatSubnetId,
  type SubnetConfig,
} from '../src/model/config.ts';

// One catalog operating point, with what serving precomputes for it: its place in the catalog, the pool's
// subnet it runs on and its cost table.
export interface ServedPoint {
  index: number;
  id: string;
  entry: CatalogPoint;
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
