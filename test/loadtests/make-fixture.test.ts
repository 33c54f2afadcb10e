import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeFixture } from '../../loadtests/make-fixture.ts';

describe('makeFixture', () => {
  it('publishes the realistic random-weight supernet through scripts/make-fixture-supernet.ts', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'loadtest-fixture-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const root = await makeFixture(dir, 'default');
    assert.equal(root, join(dir, 'fixture-sentiment'));
    const version = (await readFile(join(root, 'LATEST'), 'utf8')).trim();
    const manifest = JSON.parse(await readFile(join(root, version, 'manifest.json'), 'utf8'));
    assert.deepEqual(
      [
        manifest.architecture.hiddenSize,
        manifest.architecture.maxLayers,
        manifest.architecture.maxHeads,
        manifest.architecture.headSize,
        manifest.architecture.maxFfn,
        manifest.tokenizer.maxTokens,
        manifest.tokenizer.vocabSize,
      ],
      [128, 4, 4, 32, 512, 256, 30522],
    );
    const ids: string[] = manifest.catalog.map((e: { id: string }) => e.id);
    assert.ok(ids.includes('0h1f128-t32'));
    assert.ok(ids.includes('0h4f512.1h4f512.2h4f512.3h4f512-t256'));
  });

  it('reports a failure of the generator', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'loadtest-fixture-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'a-file');
    await writeFile(file, 'not a folder');
    await assert.rejects(makeFixture(join(file, 'out'), 'small'), /make-fixture-supernet failed/);
  });
});
