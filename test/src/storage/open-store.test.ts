import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { FileStore } from '../../../src/storage/file-store.ts';
import { openStore } from '../../../src/storage/open-store.ts';
import { S3Store } from '../../../src/storage/s3-store.ts';

test('openStore: a plain path or a file:// URI opens a FileStore', () => {
  const folder = join(tmpdir(), 'open-store-test');
  const byPath = openStore(folder);
  const byUri = openStore(pathToFileURL(folder).href);
  assert.ok(byPath instanceof FileStore);
  assert.ok(byUri instanceof FileStore);
  assert.equal(byPath.uri, pathToFileURL(folder).href);
  assert.equal(byUri.uri, byPath.uri);
  assert.ok(openStore('relative/models') instanceof FileStore);
});

test('openStore: s3://bucket/prefix opens an S3Store with the given options', () => {
  const store = openStore('s3://my-bucket/models/v1/', { s3: { region: 'eu-west-1', maxAttempts: 5 } });
  assert.ok(store instanceof S3Store);
  try {
    assert.equal(store.uri, 's3://my-bucket/models/v1');
    assert.equal(store.bucket, 'my-bucket');
    assert.equal(store.prefix, 'models/v1/');
  } finally {
    store.destroy();
  }
});

test('openStore: other schemes and empty locations are INVALID_STORAGE_URI with a clear message', () => {
  for (const uri of ['', '  ', 'http://example.com/x', 'gs://bucket/x', 'S4://x', 'hdfs:/x']) {
    assert.throws(
      () => openStore(uri),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'INVALID_STORAGE_URI');
        assert.match(error.message, /folder path, file:\/\/\/abs\/path or s3:\/\/bucket\/prefix/);
        return true;
      },
      uri,
    );
  }
  assert.throws(() => openStore('s3://Bad_Bucket/x'), { code: 'INVALID_STORAGE_URI' });
});
