import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { isSupernetError } from '../../../src/errors.ts';
import type { ObjectInfo, ObjectStore } from '../../../src/storage/object-store.ts';

const MiB = 1024 * 1024;

// What the contract needs from a store's test file.
export interface ObjectStoreFactory {
  // A fresh, empty store (its own folder or key prefix) for one test. For S3 it must be built with
  // multipartThresholdBytes and partSizeBytes of 5 MiB and listPageSize of 3, so that the tests below
  // cross those bounds.
  makeStore(name: string): Promise<ObjectStore>;
  // The scheme store.uri starts with: 'file:' or 's3:'.
  scheme: string;
}

// Deterministic pseudo-random bytes (xorshift32), so that a misplaced chunk cannot go unnoticed.
export function patternBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// A Readable that yields the bytes in chunks of chunkBytes, as a file or network stream would.
function chunkedReadable(bytes: Uint8Array, chunkBytes: number): Readable {
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
        yield Buffer.from(bytes.subarray(offset, offset + chunkBytes));
      }
    })(),
  );
}

async function readAll(stream: Readable): Promise<{ bytes: Uint8Array; chunks: number }> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Uint8Array));
  return { bytes: new Uint8Array(Buffer.concat(parts)), chunks: parts.length };
}

// Asserts that the promise rejects with a StorageError of this code whose message names every `mention`.
export async function assertStorageError(
  promise: Promise<unknown>,
  code: string,
  mentions: string[] = [],
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isSupernetError(error), `expected a StorageError, got ${String(error)}`);
    assert.equal(error.name, 'StorageError');
    assert.equal(error.code, code, error.message);
    for (const mention of mentions)
      assert.ok(error.message.includes(mention), `"${error.message}" lacks ${mention}`);
    return true;
  });
}

// Registers the behaviour every ObjectStore must have, for one kind of store.
export function objectStoreContract(kind: string, factory: ObjectStoreFactory): void {
  describe(`${kind}: ObjectStore contract`, () => {
    test('uri names the store root', async () => {
      const store = await factory.makeStore('uri');
      assert.ok(store.uri.startsWith(`${factory.scheme}//`), store.uri);
    });

    test('write then read round-trips the exact bytes, including every byte value and empty objects', async () => {
      const store = await factory.makeStore('round-trip');
      const every = new Uint8Array(256 * 3).map((_, i) => (i * 7) & 0xff);
      await store.write('a/every-byte.bin', every);
      await store.write('empty.bin', new Uint8Array(0));
      assert.deepEqual(await store.read('a/every-byte.bin'), every);
      assert.deepEqual(await store.read('empty.bin'), new Uint8Array(0));
      assert.deepEqual(withoutRevision(await store.stat('a/every-byte.bin')), {
        key: 'a/every-byte.bin',
        sizeBytes: every.length,
      });
      assert.deepEqual(withoutRevision(await store.stat('empty.bin')), { key: 'empty.bin', sizeBytes: 0 });
    });

    test('keys with spaces, unicode and dots round-trip', async () => {
      const store = await factory.makeStore('unicode');
      const key = 'dir.v1/ünïcode file (1).json';
      await store.write(key, new TextEncoder().encode('{"ok":true}'));
      assert.equal(new TextDecoder().decode(await store.read(key)), '{"ok":true}');
      assert.deepEqual(
        (await store.list('dir.v1/')).map((info) => info.key),
        [key],
      );
    });

    test('readStream streams a multi-MB object in several chunks', async () => {
      const store = await factory.makeStore('stream');
      const body = patternBytes(6 * MiB + 123, 1);
      await store.write('weights/big.bin', body);
      const { bytes, chunks } = await readAll(await store.readStream('weights/big.bin'));
      assert.equal(bytes.length, body.length);
      assert.equal(sha256(bytes), sha256(body));
      assert.ok(chunks > 1, `expected a stream of several chunks, got ${chunks}`);
    });

    test('a byte body over the multipart threshold (12 MiB in 5 MiB parts) round-trips', async () => {
      const store = await factory.makeStore('multipart');
      const body = patternBytes(12 * MiB + 5, 2);
      await store.write('weights/multipart.bin', body);
      assert.deepEqual(withoutRevision(await store.stat('weights/multipart.bin')), {
        key: 'weights/multipart.bin',
        sizeBytes: body.length,
      });
      assert.equal(sha256(await store.read('weights/multipart.bin')), sha256(body));
    });

    test('Readable bodies round-trip, small and over the part size', async () => {
      const store = await factory.makeStore('readable');
      const small = patternBytes(100_000, 3);
      await store.write('small.bin', chunkedReadable(small, 4096));
      assert.deepEqual(await store.read('small.bin'), small);
      const large = patternBytes(11 * MiB + 17, 4);
      await store.write('large.bin', chunkedReadable(large, 256 * 1024));
      const { bytes } = await readAll(await store.readStream('large.bin'));
      assert.equal(bytes.length, large.length);
      assert.equal(sha256(bytes), sha256(large));
    });

    test('a failing body stream rejects the write and leaves no object behind', async () => {
      const store = await factory.makeStore('failing');
      const failing = Readable.from(
        (async function* () {
          yield Buffer.from(patternBytes(64 * 1024, 5));
          throw new Error('source broke');
        })(),
      );
      await assert.rejects(store.write('broken.bin', failing));
      assert.equal(await store.stat('broken.bin'), undefined);
      assert.deepEqual(await store.list(''), []);
    });

    test('write overwrites an existing object whole', async () => {
      const store = await factory.makeStore('overwrite');
      await store.write('LATEST', new TextEncoder().encode('version-0001-long'));
      const before = await store.stat('LATEST');
      await store.write('LATEST', new TextEncoder().encode('v2'));
      assert.equal(new TextDecoder().decode(await store.read('LATEST')), 'v2');
      const after = await store.stat('LATEST');
      assert.deepEqual(withoutRevision(after), { key: 'LATEST', sizeBytes: 2 });
      // The revision tells a rewritten object from the one before, even at the same size.
      await store.write('LATEST', new TextEncoder().encode('v3'));
      const same = await store.stat('LATEST');
      assert.equal(typeof before?.revision, 'string');
      assert.notEqual(after?.revision, before?.revision);
      assert.notEqual(same?.revision, after?.revision);
      assert.equal((await store.stat('LATEST'))?.revision, same?.revision);
      assert.equal((await store.list('')).length, 1);
    });

    test('stat of a missing object is undefined', async () => {
      const store = await factory.makeStore('stat-missing');
      assert.equal(await store.stat('missing.bin'), undefined);
      assert.equal(await store.stat('no/such/folder/missing.bin'), undefined);
    });

    test('read and readStream of a missing object throw OBJECT_NOT_FOUND naming the key and the store', async () => {
      const store = await factory.makeStore('read-missing');
      await store.write('present.bin', new Uint8Array([1]));
      await assertStorageError(store.read('missing.bin'), 'OBJECT_NOT_FOUND', ['missing.bin']);
      await assertStorageError(store.readStream('dir/missing.bin'), 'OBJECT_NOT_FOUND', ['dir/missing.bin']);
      // The object under a key that is a folder of others does not exist either.
      await store.write('folder/inside.bin', new Uint8Array([1]));
      await assertStorageError(store.read('folder'), 'OBJECT_NOT_FOUND', ['folder']);
      await assertStorageError(store.read('present.bin/child'), 'OBJECT_NOT_FOUND', ['present.bin/child']);
    });

    test('list returns every object under a prefix, sorted, across several pages', async () => {
      const store = await factory.makeStore('list');
      const names = ['m07', 'm01', 'm03', 'sub/m02', 'm05', 'm04', 'sub/deeper/m06'];
      for (const [i, name] of names.entries()) {
        await store.write(`many/${name}`, new Uint8Array(i + 1));
      }
      // 'manyx' and not 'many-x': s3rver lists in folder-walk order and, across pages, skips a sibling that
      // sorts before '/' ('-' does); real S3 lists by UTF-8 bytes.
      await store.write('manyx/x', new Uint8Array(9));
      await store.write('other/y', new Uint8Array(10));
      const many = await store.list('many/');
      assert.deepEqual(
        many.map((info) => info.key),
        ['many/m01', 'many/m03', 'many/m04', 'many/m05', 'many/m07', 'many/sub/deeper/m06', 'many/sub/m02'],
      );
      assert.deepEqual(
        many.find((info) => info.key === 'many/m03'),
        { key: 'many/m03', sizeBytes: 3 },
      );
      assert.equal((await store.list('many')).length, 8, 'a prefix is a string prefix, not only a folder');
      assert.deepEqual(
        (await store.list('many/sub/')).map((info) => info.key),
        ['many/sub/deeper/m06', 'many/sub/m02'],
      );
      assert.deepEqual(
        (await store.list('many/m0')).map((info) => info.key),
        ['many/m01', 'many/m03', 'many/m04', 'many/m05', 'many/m07'],
      );
      assert.equal((await store.list('')).length, 9);
      assert.deepEqual(await store.list('nothing/'), []);
    });

    test('remove deletes an object; removing a missing one is not an error', async () => {
      const store = await factory.makeStore('remove');
      await store.write('gone.bin', new Uint8Array([1, 2, 3]));
      await store.write('kept.bin', new Uint8Array([4]));
      await store.remove('gone.bin');
      assert.equal(await store.stat('gone.bin'), undefined);
      await assertStorageError(store.read('gone.bin'), 'OBJECT_NOT_FOUND', ['gone.bin']);
      await store.remove('gone.bin');
      await store.remove('never/was.bin');
      assert.deepEqual(
        (await store.list('')).map((info) => info.key),
        ['kept.bin'],
      );
    });

    test('invalid keys are refused with INVALID_KEY by every method', async () => {
      const store = await factory.makeStore('invalid');
      const invalid = [
        '',
        '/absolute',
        '..',
        '../escape',
        'a/../../escape',
        'a/./b',
        'a//b',
        'trailing/',
        'back\\slash',
        'nul\u0000byte',
        'x'.repeat(1025),
      ];
      for (const key of invalid) {
        await assertStorageError(store.read(key), 'INVALID_KEY');
        await assertStorageError(store.readStream(key), 'INVALID_KEY');
        await assertStorageError(store.write(key, new Uint8Array([1])), 'INVALID_KEY');
        await assertStorageError(store.stat(key), 'INVALID_KEY');
        await assertStorageError(store.remove(key), 'INVALID_KEY');
      }
      await assertStorageError(store.list('../'), 'INVALID_KEY');
      await assertStorageError(store.list('/abs'), 'INVALID_KEY');
      assert.deepEqual(await store.list(''), []);
    });
  });
}

// A stat result without its revision (which each store spells its own way).
function withoutRevision(info: ObjectInfo | undefined): Omit<ObjectInfo, 'revision'> | undefined {
  if (info === undefined) return undefined;
  const { revision: _, ...rest } = info;
  return rest;
}
