// An S3 server for tests: a real one named by the environment (CI starts Ceph RGW with
// scripts/ci/start-rgw.sh), or else s3rver started as a child process on a free port of 127.0.0.1.
//
//   const s3 = await startTestS3();
//   t.after(() => s3.stop());
//   const store = s3.makeStore('artifacts');   // s3://<fresh bucket>/artifacts
//
// Environment: S3_TEST_ENDPOINT (e.g. http://127.0.0.1:7480), S3_TEST_ACCESS_KEY_ID,
// S3_TEST_SECRET_ACCESS_KEY, optional S3_TEST_REGION (default us-east-1) and S3_TEST_BUCKET (an existing
// bucket to use instead of creating one; each call then works under a fresh key prefix in it).

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { S3Store, type S3StoreOptions } from '../../src/storage/s3-store.ts';

// A running S3 server with one bucket of its own.
export interface TestS3 {
  // 'env' for the server S3_TEST_ENDPOINT names (RGW in CI), 's3rver' for the fallback.
  kind: 'env' | 's3rver';
  endpoint: string;
  region: string;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  // The options that reach this server (endpoint, region, path-style addressing, credentials).
  storeOptions: S3StoreOptions;
  // A store at s3://<bucket>/<prefix> ('' for the bucket root); extra options override the defaults.
  makeStore(prefix: string, options?: S3StoreOptions): S3Store;
  // Destroys the stores made, empties and deletes the bucket (or the key prefix), stops s3rver.
  stop(): Promise<void>;
}

// s3rver's built-in key pair.
const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

// Runs s3rver in a separate Node process: its paginated listing needs --openssl-legacy-provider (it
// encrypts continuation tokens with DES), which cannot be turned on inside an already running process.
// The child exits when its stdin closes, so it dies with the test process.
const LAUNCHER = `
const S3rver = require(process.argv[1]);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.argv[2] });
server.run().then(
  (address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\\n'),
  (error) => { console.error(error); process.exit(1); },
);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
`;

async function startS3rver(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const s3rverPath = createRequire(import.meta.url).resolve('s3rver');
  const child: ChildProcess = spawn(
    process.execPath,
    ['--openssl-legacy-provider', '-e', LAUNCHER, s3rverPath, directory],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A child that never says where it listens is stopped, or it would keep the test process alive.
  const started = new Promise<number>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error('s3rver did not start within 15 s')), 15_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const line = output.split('\n')[0];
      if (output.includes('\n') && line !== undefined) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with code ${code} before listening`));
    });
  });
  let port: number;
  try {
    port = await started;
  } catch (error) {
    child.stdin?.end();
    child.kill('SIGKILL');
    await exited;
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      child.stdin?.end();
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await rm(directory, { recursive: true, force: true });
    },
  };
}

// Deletes every object and unfinished multipart upload under a prefix of a bucket.
async function emptyBucket(client: S3Client, bucket: string, prefix: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      if (object.Key !== undefined)
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }));
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  let uploads: ListMultipartUploadsCommandOutput;
  try {
    uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  } catch (error) {
    // s3rver does not implement it (and keeps no parts of an aborted upload anyway).
    if ((error as Error).name === 'NotImplemented') return;
    throw error;
  }
  for (const upload of uploads.Uploads ?? []) {
    if (upload.Key !== undefined && upload.UploadId !== undefined) {
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }),
      );
    }
  }
}

// Starts (or connects to) an S3 server and gives it a fresh bucket; call stop() when done.
export async function startTestS3(): Promise<TestS3> {
  const fromEnv = process.env.S3_TEST_ENDPOINT;
  const server = fromEnv === undefined || fromEnv === '' ? await startS3rver() : undefined;
  const endpoint = server?.endpoint ?? (fromEnv as string);
  const region = process.env.S3_TEST_REGION || 'us-east-1';
  const credentials =
    server === undefined
      ? {
          accessKeyId: process.env.S3_TEST_ACCESS_KEY_ID ?? '',
          secretAccessKey: process.env.S3_TEST_SECRET_ACCESS_KEY ?? '',
        }
      : S3RVER_CREDENTIALS;
  const sharedBucket = server === undefined ? process.env.S3_TEST_BUCKET || undefined : undefined;
  const unique = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const bucket = sharedBucket ?? `test-${unique}`;
  const basePrefix = sharedBucket === undefined ? '' : `test-${unique}/`;
  const storeOptions: S3StoreOptions = { endpoint, region, forcePathStyle: true, credentials };
  const admin = new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    if (sharedBucket === undefined) await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    admin.destroy();
    await server?.stop();
    throw error;
  }
  const stores: S3Store[] = [];
  return {
    kind: server === undefined ? 'env' : 's3rver',
    endpoint,
    region,
    bucket,
    credentials,
    storeOptions,
    makeStore(prefix, options = {}) {
      const path = `${basePrefix}${prefix}`.replace(/\/+$/, '');
      const store = new S3Store(`s3://${bucket}${path === '' ? '' : `/${path}`}`, {
        ...storeOptions,
        ...options,
      });
      stores.push(store);
      return store;
    },
    async stop() {
      for (const store of stores) store.destroy();
      try {
        await emptyBucket(admin, bucket, basePrefix);
        if (sharedBucket === undefined) await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
      } finally {
        admin.destroy();
        await server?.stop();
      }
    },
  };
}
