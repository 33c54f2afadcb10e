import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { publishSupernet } from '../../../src/artifact/publish-supernet.ts';
import { readSupernet, readSupernetAt, resolveLatestVersion } from '../../../src/artifact/read-supernet.ts';
import { ArtifactError } from '../../../src/errors.ts';
import { FileStore } from '../../../src/storage/file-store.ts';
import type { ObjectStore } from '../../../src/storage/object-store.ts';
import { type EditableJson, tempFolderStore, tinyPublishOptions } from './fixtures.ts';

const MODEL = 'tiny-sentiment';
const V1 = `${MODEL}/v1`;

function isArtifactError(code: string, ...fragments: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof ArtifactError, `expected an ArtifactError, got ${err}`);
    assert.equal(err.code, code, err.message);
    for (const f of fragments) assert.ok(err.message.includes(f), `'${err.message}' should mention '${f}'`);
    return true;
  };
}

async function published(t: TestContext): Promise<{ store: ObjectStore; dir: string }> {
  const scratch = await tempFolderStore(t);
  await publishSupernet(scratch.store, tinyPublishOptions());
  return scratch;
}

async function editManifest(store: ObjectStore, edit: (json: EditableJson) => void): Promise<void> {
  const key = `${V1}/manifest.json`;
  const json = JSON.parse(new TextDecoder().decode(await store.read(key)));
  edit(json);
  await store.write(key, new TextEncoder().encode(JSON.stringify(json)));
}

describe('readSupernet refuses', () => {
  it('a flipped byte in weights.bin, naming the file and both digests', async (t) => {
    const { store } = await published(t);
    const bytes = await store.read(`${V1}/weights.bin`);
    const manifest = (await readSupernet(store, { model: MODEL })).manifest;
    const copy = bytes.slice();
    copy[100] = copy[100]! ^ 0x01;
    await store.write(`${V1}/weights.bin`, copy);
    const actual = createHash('sha256').update(copy).digest('hex');
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('CHECKSUM_MISMATCH', `${V1}/weights.bin`, manifest.files['weights.bin'].sha256, actual),
    );
  });

  it('a flipped byte in vocab.txt', async (t) => {
    const { store } = await published(t);
    const bytes = (await store.read(`${V1}/vocab.txt`)).slice();
    bytes[0] = 'X'.charCodeAt(0);
    await store.write(`${V1}/vocab.txt`, bytes);
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('CHECKSUM_MISMATCH', `${V1}/vocab.txt`),
    );
  });

  it('a truncated weights.bin, naming the file and both sizes', async (t) => {
    const { store } = await published(t);
    const bytes = await store.read(`${V1}/weights.bin`);
    await store.write(`${V1}/weights.bin`, bytes.subarray(0, bytes.byteLength - 10));
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError(
        'TRUNCATED_FILE',
        `${V1}/weights.bin`,
        `${bytes.byteLength - 10} bytes`,
        `${bytes.byteLength} bytes`,
      ),
    );
  });

  it('a weights.bin longer than the manifest says', async (t) => {
    const { store } = await published(t);
    const bytes = await store.read(`${V1}/weights.bin`);
    await store.write(`${V1}/weights.bin`, new Uint8Array([...bytes, 0, 0, 0, 0]));
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('TRUNCATED_FILE', `${V1}/weights.bin`),
    );
  });

  it('a stream that ends early even though the size looked right', async (t) => {
    const { store: inner } = await published(t);
    const lying: ObjectStore = {
      uri: inner.uri,
      read: (key) => inner.read(key),
      stat: (key) => inner.stat(key),
      async readStream(key) {
        return Readable.from([Buffer.from((await inner.read(key)).subarray(0, 300))]);
      },
      write: (key, body) => inner.write(key, body),
      list: (prefix) => inner.list(prefix),
      remove: (key) => inner.remove(key),
    };
    await assert.rejects(
      readSupernet(lying, { model: MODEL }),
      isArtifactError('TRUNCATED_FILE', `${V1}/weights.bin`, '300 bytes'),
    );
  });

  it('a truncated vocab.txt', async (t) => {
    const { store } = await published(t);
    const bytes = await store.read(`${V1}/vocab.txt`);
    await store.write(`${V1}/vocab.txt`, bytes.subarray(0, 20));
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('TRUNCATED_FILE', `${V1}/vocab.txt`, '20 bytes', `${bytes.byteLength} bytes`),
    );
  });

  it('formatVersion 3', async (t) => {
    const { store } = await published(t);
    await editManifest(store, (m) => {
      m.formatVersion = 3;
      m.newThing = { anything: true };
    });
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('UNSUPPORTED_FORMAT_VERSION', `${V1}/manifest.json`, 'formatVersion 3'),
    );
  });

  it('a manifest that is not JSON', async (t) => {
    const { store } = await published(t);
    await store.write(`${V1}/manifest.json`, new TextEncoder().encode('{"formatVersion": 1, "model": '));
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('MALFORMED_MANIFEST', `${V1}/manifest.json`, 'not valid JSON'),
    );
    await store.write(`${V1}/manifest.json`, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('MALFORMED_MANIFEST', `${V1}/manifest.json`, 'UTF-8'),
    );
  });

  it('a manifest missing a field', async (t) => {
    const { store } = await published(t);
    await editManifest(store, (m) => {
      delete m.files;
    });
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('MALFORMED_MANIFEST', `${V1}/manifest.json`, 'files'),
    );
  });

  it('overlapping weight entries, naming the entry', async (t) => {
    const { store } = await published(t);
    let name = '';
    await editManifest(store, (m) => {
      const [a, b] = m.weights.entries;
      b.offset = a.offset;
      name = b.name;
    });
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('MALFORMED_MANIFEST', `${V1}/manifest.json`, `'${name}'`, 'overlaps'),
    );
  });

  it('a catalog id that does not match its subnet', async (t) => {
    const { store } = await published(t);
    await editManifest(store, (m) => {
      m.catalog[1].id = '0h2f16.1h2f16-t8';
    });
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('MALFORMED_MANIFEST', `${V1}/manifest.json`, 'catalog.1.id'),
    );
  });

  it('a manifest that belongs to another version folder', async (t) => {
    const { store } = await published(t);
    await editManifest(store, (m) => {
      m.version = 'v9';
    });
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('MALFORMED_MANIFEST', `${V1}/manifest.json`, 'v9'),
    );
  });

  it('LATEST pointing to a missing version, naming the key', async (t) => {
    const { store } = await published(t);
    await store.write(`${MODEL}/LATEST`, new TextEncoder().encode('v7\n'));
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('ARTIFACT_NOT_FOUND', `${MODEL}/v7/manifest.json`, `${MODEL}/LATEST`),
    );
  });

  it('a LATEST that does not hold a version id', async (t) => {
    const { store } = await published(t);
    await store.write(`${MODEL}/LATEST`, new TextEncoder().encode('../../etc\n'));
    await assert.rejects(
      resolveLatestVersion(store, MODEL),
      isArtifactError('MALFORMED_MANIFEST', `${MODEL}/LATEST`),
    );
    await store.write(`${MODEL}/LATEST`, new TextEncoder().encode(''));
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('MALFORMED_MANIFEST', `${MODEL}/LATEST`),
    );
  });

  it('a missing model, version or file', async (t) => {
    const { store } = await published(t);
    await assert.rejects(
      readSupernet(store, { model: 'other' }),
      isArtifactError('ARTIFACT_NOT_FOUND', 'other/LATEST'),
    );
    await assert.rejects(
      readSupernet(store, { model: MODEL, version: 'v2' }),
      isArtifactError('ARTIFACT_NOT_FOUND', `${MODEL}/v2/manifest.json`),
    );
    await store.remove(`${V1}/weights.bin`);
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('ARTIFACT_NOT_FOUND', `${V1}/weights.bin`),
    );
    await store.remove(`${V1}/vocab.txt`);
    await assert.rejects(
      readSupernet(store, { model: MODEL }),
      isArtifactError('ARTIFACT_NOT_FOUND', `${V1}/vocab.txt`),
    );
  });

  it('a model or version that is not a valid name', async (t) => {
    const { store } = await published(t);
    await assert.rejects(readSupernet(store, { model: '../x' }), isArtifactError('INVALID_ARTIFACT', '../x'));
    await assert.rejects(
      readSupernet(store, { model: MODEL, version: 'a/../../b' }),
      isArtifactError('INVALID_ARTIFACT', 'a/../../b'),
    );
  });

  it('a weights.bin over the memory limit, before reading it', async (t) => {
    const { store } = await published(t);
    await assert.rejects(
      readSupernet(store, { model: MODEL, maxWeightBytes: 1000 }),
      isArtifactError('INVALID_ARTIFACT', `${V1}/weights.bin`, 'maxWeightBytes'),
    );
  });
});

describe('readSupernetAt', () => {
  it('reads a store rooted at one version folder', async (t) => {
    const { store, dir } = await published(t);
    const viaRoot = await readSupernet(store, { model: MODEL });
    const atVersion = await readSupernetAt(new FileStore(`${dir}/${V1}`));
    assert.equal(atVersion.prefix, '');
    assert.deepEqual(atVersion.manifest, viaRoot.manifest);
    assert.deepEqual(atVersion.weights, viaRoot.weights);
  });

  it('follows LATEST in a store rooted at a model folder, or at a prefix', async (t) => {
    const { store, dir } = await published(t);
    await publishSupernet(store, tinyPublishOptions({ version: 'v2' }));
    const atModel = await readSupernetAt(new FileStore(`${dir}/${MODEL}`));
    assert.equal(atModel.manifest.version, 'v2');
    assert.equal(atModel.prefix, 'v2/');
    const atPrefix = await readSupernetAt(store, `${MODEL}/`);
    assert.equal(atPrefix.prefix, `${MODEL}/v2/`);
    const pinned = await readSupernetAt(store, V1);
    assert.equal(pinned.manifest.version, 'v1');
  });

  it('refuses a folder with neither manifest.json nor LATEST', async (t) => {
    const { store } = await published(t);
    await assert.rejects(
      readSupernetAt(store, 'nothing-here'),
      isArtifactError('ARTIFACT_NOT_FOUND', 'nothing-here/manifest.json', 'nothing-here/LATEST'),
    );
    await assert.rejects(
      readSupernetAt(store),
      isArtifactError('ARTIFACT_NOT_FOUND', "'manifest.json'", "'LATEST'"),
    );
  });
});
