import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { StorageError } from '../../../src/errors.ts';
import { FileStore } from '../../../src/storage/file-store.ts';
import { assertStorageError, objectStoreContract } from './object-store-contract.ts';

let root = '';

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'file-store-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

objectStoreContract('FileStore', {
  scheme: 'file:',
  makeStore: async (name) => new FileStore(join(root, name)),
});

test('FileStore: a plain path and its file:// URI open the same store', async () => {
  const folder = join(root, 'same');
  const byPath = new FileStore(folder);
  const byUri = new FileStore(pathToFileURL(folder).href);
  assert.equal(byPath.uri, byUri.uri);
  assert.equal(byPath.uri, pathToFileURL(folder).href);
  await byPath.write('a/b.txt', new TextEncoder().encode('hello'));
  assert.equal(new TextDecoder().decode(await byUri.read('a/b.txt')), 'hello');
});

test('FileStore: an error names the key and the folder', async () => {
  const store = new FileStore(join(root, 'named'));
  await assertStorageError(store.read('x/missing.bin'), 'OBJECT_NOT_FOUND', ['x/missing.bin', store.uri]);
});

test('FileStore: a failed write leaves no temp file, and temp names are reserved', async () => {
  const folder = join(root, 'temp');
  const store = new FileStore(folder);
  await store.write('dir/ok.bin', new Uint8Array([1]));
  const failing = Readable.from(
    (async function* () {
      yield Buffer.alloc(1000);
      throw new Error('source broke');
    })(),
  );
  await assert.rejects(store.write('dir/broken.bin', failing));
  assert.deepEqual(await readdir(join(folder, 'dir')), ['ok.bin']);
  await assertStorageError(store.write('dir/.tmp-x', new Uint8Array([1])), 'INVALID_KEY', ['.tmp-']);
});

test('FileStore: a key cannot be both an object and a folder of objects', async () => {
  const store = new FileStore(join(root, 'clash'));
  await store.write('a', new Uint8Array([1]));
  await assertStorageError(store.write('a/b', new Uint8Array([2])), 'INVALID_KEY', ['a/b']);
  await store.write('c/d', new Uint8Array([3]));
  await assertStorageError(store.write('c', new Uint8Array([4])), 'INVALID_KEY', ['"c"']);
  await assertStorageError(store.readStream('c'), 'OBJECT_NOT_FOUND', ['"c"']);
  assert.equal(await store.stat('c'), undefined);
});

test('FileStore: a store over a folder that does not exist yet is empty', async () => {
  const store = new FileStore(join(root, 'not', 'yet'));
  assert.deepEqual(await store.list(''), []);
  assert.equal(await store.stat('x'), undefined);
  await store.write('x', new Uint8Array([1]));
  assert.deepEqual(await store.list(''), [{ key: 'x', sizeBytes: 1 }]);
});

test('FileStore: an empty path or a malformed file URI is INVALID_STORAGE_URI', () => {
  assert.throws(() => new FileStore(''), { code: 'INVALID_STORAGE_URI' });
  assert.throws(() => new FileStore('file://remote-host/share'), { code: 'INVALID_STORAGE_URI' });
});

test('FileStore: a key segment longer than the file system allows is INVALID_KEY', async () => {
  const store = new FileStore(join(root, 'long'));
  await assertStorageError(store.write(`${'n'.repeat(300)}.bin`, new Uint8Array([1])), 'INVALID_KEY', [
    'too long',
  ]);
  const longest = `${'n'.repeat(251)}.bin`;
  await store.write(longest, new Uint8Array([1]));
  assert.deepEqual(await store.list(''), [{ key: longest, sizeBytes: 1 }]);
});

test('FileStore on a folder it cannot create fails the write at once with ACCESS_DENIED instead of hanging', async () => {
  // Node's recursive mkdir never settles under /proc.
  const store = new FileStore('/proc/no-such-folder/models');
  await assert.rejects(
    store.write('a/b.txt', new TextEncoder().encode('x')),
    (e: unknown) =>
      e instanceof StorageError && e.code === 'ACCESS_DENIED' && /cannot create folder/.test(e.message),
  );
});
