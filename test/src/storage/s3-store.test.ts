import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { S3Store } from '../../../src/storage/s3-store.ts';
import { startTestS3, type TestS3 } from '../../helpers/s3-server.ts';
import { assertStorageError, objectStoreContract, patternBytes } from './object-store-contract.ts';

const MiB = 1024 * 1024;
// Small bounds so that the contract's 12 MiB body is a multipart upload and its lists span pages.
const CONTRACT_OPTIONS = { multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB, listPageSize: 3 };
const serverName = process.env.S3_TEST_ENDPOINT
  ? `S3_TEST_ENDPOINT ${process.env.S3_TEST_ENDPOINT}`
  : 's3rver';

let s3: TestS3;
let raw: S3Client;

before(async () => {
  s3 = await startTestS3();
  raw = new S3Client({
    ...s3.storeOptions,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});

after(async () => {
  raw?.destroy();
  await s3?.stop();
});

objectStoreContract(`S3Store on ${serverName}`, {
  scheme: 's3:',
  makeStore: async (name) => s3.makeStore(`contract/${name}`, CONTRACT_OPTIONS),
});

// A port on 127.0.0.1 that nothing listens on.
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface SeenRequest {
  method: string;
  url: string;
  // The SDK's own attempt counter, e.g. 'attempt=2; max=3'.
  attempt: string | undefined;
  faulted: boolean;
}

// A real HTTP proxy in front of the S3 server that answers request number n (from 0) with the error
// fault(n) returns, or forwards it untouched (the Host header too, so signatures stay valid).
async function startFaultyProxy(
  target: string,
  fault: (n: number) => { status: number; code: string } | undefined,
): Promise<{ endpoint: string; seen: SeenRequest[]; close(): Promise<void> }> {
  const upstream = new URL(target);
  const seen: SeenRequest[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const injected = fault(seen.length);
    const header = req.headers['amz-sdk-request'];
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      attempt: Array.isArray(header) ? header[0] : header,
      faulted: injected !== undefined,
    });
    if (injected !== undefined) {
      req.resume();
      req.on('end', () => {
        res.writeHead(injected.status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${injected.code}</Code>` +
            '<Message>injected by the test proxy</Message><RequestId>test</RequestId></Error>',
        );
      });
      return;
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (error) => res.destroy(error));
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe(`S3Store on ${serverName}: S3 specifics`, () => {
  test('a byte body over the threshold goes up in 5 MiB parts, a small one as a single PUT', async () => {
    // A pass-through proxy shows the requests the store sends.
    const proxy = await startFaultyProxy(s3.endpoint, () => undefined);
    const store = s3.makeStore('multipart-requests', { ...CONTRACT_OPTIONS, endpoint: proxy.endpoint });
    const sent = () => proxy.seen.splice(0).map((r) => `${r.method} ${new URL(r.url, 'http://x').search}`);
    const multipart = [
      /^POST \?uploads/,
      /^PUT \?partNumber=\d&uploadId=/,
      /^PUT \?partNumber=\d&uploadId=/,
      /^PUT \?partNumber=\d&uploadId=/,
      /^POST \?uploadId=/,
    ];
    try {
      await store.write('big.bin', patternBytes(12 * MiB, 7));
      const big = sent().sort((a, b) =>
        a.startsWith('POST ?uploads') ? -1 : b.startsWith('POST ?uploads') ? 1 : 0,
      );
      assert.equal(big.length, multipart.length, big.join('\n'));
      for (const [i, pattern] of multipart.entries()) assert.match(big[i] ?? '', pattern);
      await store.write('stream.bin', Readable.from([Buffer.from(patternBytes(11 * MiB, 9))]));
      assert.equal(sent().filter((r) => r.includes('partNumber=')).length, 3);
      await store.write('small.bin', patternBytes(1000, 8));
      assert.deepEqual(sent(), ['PUT ?x-id=PutObject']);
    } finally {
      await proxy.close();
    }
    if (s3.kind === 'env') {
      // A real S3 gives a multipart object the ETag <md5 of the part md5s>-<number of parts>.
      const etag = async (key: string) =>
        (await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `${store.prefix}${key}` }))).ETag ??
        '';
      assert.match(await etag('big.bin'), /-3"$/);
      assert.match(await etag('stream.bin'), /-3"$/);
      assert.doesNotMatch(await etag('small.bin'), /-\d+"$/);
    }
  });

  test('the server cuts listings into pages of 3 and list() follows every page', async () => {
    const store = s3.makeStore('pages', { listPageSize: 3 });
    const keys = Array.from({ length: 10 }, (_, i) => `p/${String(i).padStart(2, '0')}`);
    for (const key of keys) await store.write(key, new Uint8Array([1]));
    const firstPage = await raw.send(
      new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${store.prefix}p/`, MaxKeys: 3 }),
    );
    assert.equal(firstPage.Contents?.length, 3);
    assert.equal(firstPage.IsTruncated, true);
    assert.deepEqual(
      (await store.list('p/')).map((info) => info.key),
      keys,
    );
  });

  test('stores under sibling prefixes do not see each other', async () => {
    const a = s3.makeStore('iso/a');
    const ab = s3.makeStore('iso/ab');
    await a.write('x', new Uint8Array([1]));
    await ab.write('y', new Uint8Array([2]));
    assert.deepEqual(await a.list(''), [{ key: 'x', sizeBytes: 1 }]);
    assert.deepEqual(await ab.list(''), [{ key: 'y', sizeBytes: 1 }]);
    assert.equal(await a.stat('y'), undefined);
    assert.equal(a.uri, `${s3.makeStore('iso').uri}/a`);
  });

  test('a missing bucket is BUCKET_NOT_FOUND, naming the bucket', async () => {
    const bucket = `missing-${randomBytes(6).toString('hex')}`;
    const store = new S3Store(`s3://${bucket}/models`, { ...s3.storeOptions, ...CONTRACT_OPTIONS });
    try {
      await assertStorageError(store.read('a.bin'), 'BUCKET_NOT_FOUND', [bucket]);
      await assertStorageError(store.readStream('a.bin'), 'BUCKET_NOT_FOUND', [bucket]);
      await assertStorageError(store.write('a.bin', new Uint8Array([1])), 'BUCKET_NOT_FOUND', [bucket]);
      await assertStorageError(store.write('b.bin', patternBytes(6 * MiB, 1)), 'BUCKET_NOT_FOUND', [bucket]);
      await assertStorageError(store.stat('a.bin'), 'BUCKET_NOT_FOUND', [bucket]);
      await assertStorageError(store.list(''), 'BUCKET_NOT_FOUND', [bucket]);
    } finally {
      store.destroy();
    }
  });

  test('bad credentials are ACCESS_DENIED, naming the bucket and key', async () => {
    const unknownKey = s3.makeStore('denied', {
      credentials: { accessKeyId: 'NOSUCHACCESSKEY', secretAccessKey: 'whatever-secret' },
    });
    const wrongSecret = s3.makeStore('denied', {
      credentials: { accessKeyId: s3.credentials.accessKeyId, secretAccessKey: 'not-the-secret' },
    });
    // s3rver checks that the access key exists but not SigV4 signatures: a wrong secret gets through there.
    for (const store of s3.kind === 'env' ? [unknownKey, wrongSecret] : [unknownKey]) {
      await assertStorageError(store.read('k.bin'), 'ACCESS_DENIED', [s3.bucket, 'denied/k.bin']);
      await assertStorageError(store.write('k.bin', new Uint8Array([1])), 'ACCESS_DENIED', [
        s3.bucket,
        'k.bin',
      ]);
      await assertStorageError(store.stat('k.bin'), 'ACCESS_DENIED', [s3.bucket, 'k.bin']);
      await assertStorageError(store.list(''), 'ACCESS_DENIED', [s3.bucket]);
    }
  });

  test('an unreachable endpoint is STORAGE_UNAVAILABLE after maxAttempts', async () => {
    const port = await closedPort();
    const store = new S3Store(`s3://${s3.bucket}/x`, {
      ...s3.storeOptions,
      endpoint: `http://127.0.0.1:${port}`,
      maxAttempts: 2,
    });
    try {
      await assertStorageError(store.read('k.bin'), 'STORAGE_UNAVAILABLE', [
        s3.bucket,
        'x/k.bin',
        '2 attempts',
      ]);
      await assertStorageError(store.write('k.bin', new Uint8Array([1])), 'STORAGE_UNAVAILABLE', [s3.bucket]);
      await assertStorageError(store.stat('k.bin'), 'STORAGE_UNAVAILABLE', [s3.bucket]);
      await assertStorageError(store.list(''), 'STORAGE_UNAVAILABLE', [s3.bucket]);
    } finally {
      store.destroy();
    }
  });

  test('503 SlowDown twice: the third attempt succeeds', async () => {
    const proxy = await startFaultyProxy(s3.endpoint, (n) =>
      n < 2 ? { status: 503, code: 'SlowDown' } : undefined,
    );
    const store = s3.makeStore('retry', { endpoint: proxy.endpoint, maxAttempts: 3 });
    try {
      const body = patternBytes(1000, 11);
      await store.write('slow.bin', body);
      assert.deepEqual(
        proxy.seen.map((r) => [r.method, r.attempt, r.faulted]),
        [
          ['PUT', 'attempt=1; max=3', true],
          ['PUT', 'attempt=2; max=3', true],
          ['PUT', 'attempt=3; max=3', false],
        ],
      );
      // The object really arrived: read it past the proxy.
      assert.deepEqual(await s3.makeStore('retry').read('slow.bin'), body);
    } finally {
      await proxy.close();
    }
  });

  test('5xx on every attempt: STORAGE_UNAVAILABLE after maxAttempts', async () => {
    const proxy = await startFaultyProxy(s3.endpoint, (n) =>
      n % 2 === 0 ? { status: 503, code: 'ServiceUnavailable' } : { status: 500, code: 'InternalError' },
    );
    const store = s3.makeStore('retry-fail', { endpoint: proxy.endpoint, maxAttempts: 3 });
    try {
      await assertStorageError(store.read('k.bin'), 'STORAGE_UNAVAILABLE', [
        s3.bucket,
        'retry-fail/k.bin',
        '3 attempts',
      ]);
      assert.equal(proxy.seen.length, 3);
    } finally {
      await proxy.close();
    }
  });

  test('a 4xx is not retried', async () => {
    const proxy = await startFaultyProxy(s3.endpoint, () => ({ status: 403, code: 'AccessDenied' }));
    const store = s3.makeStore('no-retry', { endpoint: proxy.endpoint, maxAttempts: 3 });
    try {
      await assertStorageError(store.read('k.bin'), 'ACCESS_DENIED', [s3.bucket, 'no-retry/k.bin']);
      assert.equal(proxy.seen.length, 1);
    } finally {
      await proxy.close();
    }
  });

  test('malformed S3 URIs and options are INVALID_STORAGE_URI', () => {
    for (const uri of [
      's3://',
      's3://UPPER/x',
      's3://a/x',
      's3://bucket/../x',
      's3://bucket//x',
      'http://bucket/x',
    ]) {
      assert.throws(() => new S3Store(uri), { code: 'INVALID_STORAGE_URI' }, uri);
    }
    assert.throws(() => new S3Store('s3://bucket/x', { partSizeBytes: 1024 }), {
      code: 'INVALID_STORAGE_URI',
    });
    assert.throws(() => new S3Store('s3://bucket/x', { listPageSize: 5000 }), {
      code: 'INVALID_STORAGE_URI',
    });
    const root = new S3Store('s3://bucket/');
    const nested = new S3Store('s3://bucket/a/b/');
    try {
      assert.equal(root.uri, 's3://bucket');
      assert.equal(root.prefix, '');
      assert.equal(nested.uri, 's3://bucket/a/b');
      assert.equal(nested.prefix, 'a/b/');
    } finally {
      root.destroy();
      nested.destroy();
    }
  });
});
