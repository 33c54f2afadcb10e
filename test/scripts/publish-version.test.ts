import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { publishVersionCli } from '../../scripts/publish-version.ts';
import { readSupernetAt } from '../../src/artifact/read-supernet.ts';
import { FileStore } from '../../src/storage/file-store.ts';
import { FIXTURE_MODEL, fixtureFolder } from '../serving/fixture.ts';

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await publishVersionCli(argv, {}, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('publish-version', () => {
  it('copies a version folder under its manifest version, verifies the copy, and writes LATEST last', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const work = await mkdtemp(join(tmpdir(), 'publish-version-'));
    t.after(() => rm(work, { recursive: true, force: true }));
    // A folder copied by hand under another name: its manifest says v1.
    const copied = join(work, 'copy-of-v1');
    await cp(join(modelRoot, 'v1'), copied, { recursive: true });
    const target = join(work, 'models', FIXTURE_MODEL);

    const published = await run([copied, target]);
    assert.equal(published.code, 0, published.err.join('\n'));
    assert.match(published.out[0]!, /published fixture-sentiment version v1 to file:.*\/v1; LATEST names it/);
    assert.equal(await readFile(join(target, 'LATEST'), 'utf8'), 'v1\n');
    const loaded = await readSupernetAt(new FileStore(target));
    assert.equal(loaded.manifest.version, 'v1');

    // A version is never replaced.
    const again = await run([copied, target]);
    assert.equal(again.code, 2);
    assert.match(again.err[0]!, /^publish-version: VERSION_EXISTS: .*v1 is already published/);
  });

  it('refuses a folder that fails its checksums before writing anything, and bad arguments, in one line', async (t) => {
    const { modelRoot } = await fixtureFolder(t);
    const work = await mkdtemp(join(tmpdir(), 'publish-version-'));
    t.after(() => rm(work, { recursive: true, force: true }));
    const copied = join(work, 'v2');
    await cp(join(modelRoot, 'v1'), copied, { recursive: true });
    const weights = await readFile(join(copied, 'weights.bin'));
    await writeFile(join(copied, 'weights.bin'), weights.subarray(0, weights.length - 10));
    const target = join(work, 'root');

    const truncated = await run([copied, target]);
    assert.equal(truncated.code, 2);
    assert.equal(truncated.err.length, 1);
    assert.match(truncated.err[0]!, /^publish-version: TRUNCATED_FILE: /);
    assert.equal((await new FileStore(target).list('')).length, 0);

    const noManifest = await run([work, target]);
    assert.equal(noManifest.code, 2);
    assert.match(noManifest.err[0]!, /holds no manifest\.json: give a version folder/);
    assert.equal((await run([copied])).code, 2);
    assert.equal((await run([copied, 'http://example.com/models'])).code, 2);
  });
});
