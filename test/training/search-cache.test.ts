import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CatalogPointSchema } from '../../src/model/config.ts';
import { readSearchCache, writeSearchCache } from '../../training/search-cache.ts';
import type { SearchedCatalog } from '../../training/search-catalog.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'search-cache-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const subnet = { layers: [{ layer: 0, heads: 2, ffn: 64 }] };
const SEARCHED: SearchedCatalog = {
  entries: [
    {
      id: '0h2f64-t32',
      subnet,
      tokens: 32,
      params: 1000,
      flops: 20000,
      referenceTokens: 32,
      devAccuracy: 0.81,
      devMacroF1: 0.8,
      testAccuracy: 0.79,
      testMacroF1: 0.78,
      latencyMs: 1.5,
    },
  ],
  svg: '<svg/>',
  summary: { front: 3, evaluated: 12, engine: 'onnx', points: [{ id: '0h2f64-t32', accuracy: 0.8 }] },
};

describe('search cache', () => {
  it('reads back what it wrote, each entry a catalog point', async (t) => {
    const path = join(await tempDir(t), 'search.json');
    await writeSearchCache(path, SEARCHED);
    const read = await readSearchCache(path);
    assert.deepEqual(read, SEARCHED);
    // The summary goes into the manifest as it is, keys in their order.
    assert.equal(JSON.stringify(read?.summary), JSON.stringify(SEARCHED.summary));
    for (const entry of read!.entries) assert.ok(CatalogPointSchema.safeParse(entry).success);
  });

  it('is absent when no search was cached', async (t) => {
    assert.equal(await readSearchCache(join(await tempDir(t), 'search.json')), undefined);
  });

  it('reads a search cached with the operating point nested as the same entries', async (t) => {
    const path = join(await tempDir(t), 'search.json');
    const { id, flops, params, devAccuracy, devMacroF1, testAccuracy, testMacroF1, latencyMs } =
      SEARCHED.entries[0]!;
    const nested = { point: { subnet, tokens: 32 }, id, flops, accuracy: devAccuracy, params, devAccuracy };
    const withF1 = { ...nested, devMacroF1, testAccuracy, testMacroF1, latencyMs };
    // Caches from before macro-F1 was measured have none.
    const withoutF1 = { ...nested, testAccuracy, latencyMs };
    await writeFile(path, JSON.stringify({ ...SEARCHED, entries: [withF1, withoutF1] }));
    const read = await readSearchCache(path);
    const { devMacroF1: _dev, testMacroF1: _test, ...withoutF1Expected } = SEARCHED.entries[0]!;
    assert.deepEqual(read?.entries, [SEARCHED.entries[0], withoutF1Expected]);
  });

  it('refuses a file that is not a cached search, naming it and the entry', async (t) => {
    const path = join(await tempDir(t), 'search.json');
    const { latencyMs: _, ...unmeasured } = SEARCHED.entries[0]!;
    await writeFile(path, JSON.stringify({ ...SEARCHED, entries: [unmeasured] }));
    await assert.rejects(readSearchCache(path), (e: Error) => {
      assert.match(e.message, /search\.json is not a cached search: entries\.0: .*latencyMs/);
      return true;
    });
  });
});
