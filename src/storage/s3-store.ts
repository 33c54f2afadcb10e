import { PassThrough, Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { z } from 'zod';
import { describeIssues } from '../describe-issues.ts';
import { StorageError } from '../errors.ts';
import type { ObjectInfo, ObjectStore } from './object-store.ts';
import { compareKeys, MAX_KEY_BYTES, validateKey, validatePrefix } from './validate-key.ts';

const MiB = 1024 * 1024;

// S3 refuses multipart parts under 5 MiB (except the last) and over 5 GiB.
const MIN_PART_SIZE_BYTES = 5 * MiB;
const MAX_PART_SIZE_BYTES = 5 * 1024 * MiB;

// Options of an S3Store; everything is optional. Credentials default to the SDK's chain (environment,
// profile, container or instance role).
export const S3StoreOptionsSchema = z.object({
  // Defaults to us-east-1; requests to a bucket elsewhere follow S3's region redirect.
  region: z.string().min(1).optional(),
  // An S3-compatible server, e.g. http://127.0.0.1:7480 (usually with forcePathStyle).
  endpoint: z.url().optional(),
  // http://host/bucket/key instead of http://bucket.host/key.
  forcePathStyle: z.boolean().optional(),
  credentials: z
    .object({
      accessKeyId: z.string().min(1),
      secretAccessKey: z.string().min(1),
      sessionToken: z.string().min(1).optional(),
    })
    .optional(),
  // Attempts per request, first included; retries back off exponentially with full jitter. Default 3.
  maxAttempts: z.number().int().min(1).max(20).optional(),
  // Byte bodies this large or larger go up as a multipart upload; smaller ones as one PutObject.
  // Default 16 MiB. Readable bodies always go through the multipart uploader, which still sends a
  // single PutObject when the stream ends within the first part.
  multipartThresholdBytes: z.number().int().min(0).optional(),
  // Size of each multipart part, 5 MiB to 5 GiB. Default 8 MiB.
  partSizeBytes: z.number().int().min(MIN_PART_SIZE_BYTES).max(MAX_PART_SIZE_BYTES).optional(),
  // Parts in flight at once (memory: about uploadConcurrency x partSizeBytes). Default 4.
  uploadConcurrency: z.number().int().min(1).max(64).optional(),
  // Keys per ListObjectsV2 page, 1 to 1000. Default 1000.
  listPageSize: z.number().int().min(1).max(1000).optional(),
  // Time to establish a connection. Default 5 s.
  connectionTimeoutMs: z.number().int().min(1).optional(),
  // Time a socket may stay idle mid-request. Default 60 s.
  socketTimeoutMs: z.number().int().min(1).optional(),
});

// Options of an S3Store (see S3StoreOptionsSchema for each field's meaning and default).
export type S3StoreOptions = z.infer<typeof S3StoreOptionsSchema>;

const S3_ACCESS_DENIED_NAMES = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
]);

// Bucket names as S3 accepts them today (lowercase letters, digits, dots, hyphens; 3 to 63 characters).
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

interface S3Location {
  bucket: string;
  prefix: string;
}

// Splits s3://bucket/prefix into the bucket and the key prefix ('' or ending in '/').
function parseS3Uri(uri: string): S3Location {
  const invalid = (why: string) =>
    new StorageError('INVALID_STORAGE_URI', `invalid S3 URI ${JSON.stringify(uri)}: ${why}`);
  if (!uri.startsWith('s3://')) throw invalid('expected s3://bucket/prefix');
  const rest = uri.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
  if (!BUCKET_NAME.test(bucket)) {
    throw invalid(`${JSON.stringify(bucket)} is not a bucket name (3-63 of a-z 0-9 . -)`);
  }
  if (path !== '') {
    try {
      validateKey(path, `s3://${bucket}`);
    } catch (cause) {
      throw new StorageError('INVALID_STORAGE_URI', `invalid S3 URI ${JSON.stringify(uri)}: bad prefix`, {
        cause,
      });
    }
  }
  return { bucket, prefix: path === '' ? '' : `${path}/` };
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

// An object store over an S3 bucket and key prefix (s3://bucket/prefix), on AWS or an S3-compatible server.
export class S3Store implements ObjectStore {
  readonly uri: string;
  readonly bucket: string;
  // The key prefix under the bucket: '' or ending in '/'.
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly multipartThresholdBytes: number;
  private readonly partSizeBytes: number;
  private readonly uploadConcurrency: number;
  private readonly listPageSize: number;

  constructor(uri: string, options: S3StoreOptions = {}) {
    const location = parseS3Uri(uri);
    this.bucket = location.bucket;
    this.prefix = location.prefix;
    this.uri = `s3://${this.bucket}${this.prefix === '' ? '' : `/${this.prefix.slice(0, -1)}`}`;
    const parsed = S3StoreOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new StorageError(
        'INVALID_STORAGE_URI',
        `invalid S3 options for ${this.uri}: ${describeIssues(parsed.error)}`,
        { cause: parsed.error },
      );
    }
    const o = parsed.data;
    this.multipartThresholdBytes = o.multipartThresholdBytes ?? 16 * MiB;
    this.partSizeBytes = o.partSizeBytes ?? 8 * MiB;
    this.uploadConcurrency = o.uploadConcurrency ?? 4;
    this.listPageSize = o.listPageSize ?? 1000;
    this.client = new S3Client({
      region: o.region ?? 'us-east-1',
      followRegionRedirects: true,
      ...(o.endpoint === undefined ? {} : { endpoint: o.endpoint }),
      ...(o.forcePathStyle === undefined ? {} : { forcePathStyle: o.forcePathStyle }),
      ...(o.credentials === undefined ? {} : { credentials: o.credentials }),
      // The SDK's standard retry strategy: retries throttling (SlowDown, 429...), 500/502/503/504 and
      // network errors, with exponential backoff and full jitter.
      maxAttempts: o.maxAttempts ?? 3,
      retryMode: 'standard',
      // No aws-chunked flexible checksums: S3-compatible servers (RGW 16, s3rver) reject them, and
      // artifacts carry their own checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: o.connectionTimeoutMs ?? 5_000,
        socketTimeout: o.socketTimeoutMs ?? 60_000,
      },
    });
  }

  async read(key: string): Promise<Uint8Array> {
    const fullKey = this.fullKey(key);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: fullKey }));
      if (response.Body === undefined) return new Uint8Array(0);
      return await response.Body.transformToByteArray();
    } catch (error) {
      throw this.mapError(error, 'read', fullKey);
    }
  }

  async readStream(key: string): Promise<Readable> {
    const fullKey = this.fullKey(key);
    let body: Readable;
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: fullKey }));
      body = response.Body instanceof Readable ? response.Body : Readable.from([]);
    } catch (error) {
      throw this.mapError(error, 'read', fullKey);
    }
    // Re-emit a failure mid-stream (connection reset...) as a StorageError too.
    const out = new PassThrough();
    body.once('error', (error) => out.destroy(this.mapError(error, 'read', fullKey)));
    out.once('close', () => {
      if (!body.destroyed) body.destroy();
    });
    body.pipe(out);
    return out;
  }

  async write(key: string, body: Uint8Array | Readable): Promise<void> {
    const fullKey = this.fullKey(key);
    try {
      if (body instanceof Uint8Array && body.byteLength < this.multipartThresholdBytes) {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: fullKey,
            Body: body,
            ContentLength: body.byteLength,
          }),
        );
        return;
      }
      // Parts are sent as they fill; the object appears only when CompleteMultipartUpload succeeds, and a
      // failed upload is aborted (its parts deleted).
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: fullKey, Body: body },
        partSize: this.partSizeBytes,
        queueSize: this.uploadConcurrency,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (error) {
      throw this.mapError(error, 'write', fullKey);
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const fullKey = this.fullKey(key);
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: fullKey }));
      return {
        key,
        sizeBytes: response.ContentLength ?? 0,
        revision: `${response.ETag ?? ''}:${response.LastModified?.getTime() ?? ''}`,
      };
    } catch (error) {
      const mapped = this.mapError(error, 'stat', fullKey);
      if (mapped.code !== 'OBJECT_NOT_FOUND') throw mapped;
    }
    // A HEAD has no body, so a 404 does not say whether the key or the bucket is missing: ask the bucket.
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      const mapped = this.mapError(error, 'stat', fullKey);
      throw mapped.code === 'OBJECT_NOT_FOUND' ? this.bucketNotFound(fullKey, error) : mapped;
    }
    return undefined;
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    validatePrefix(prefix, this.uri);
    const fullPrefix = this.prefix + prefix;
    const found: ObjectInfo[] = [];
    let continuationToken: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: fullPrefix,
            MaxKeys: this.listPageSize,
            ContinuationToken: continuationToken,
          }),
        );
        for (const object of page.Contents ?? []) {
          if (object.Key === undefined || !object.Key.startsWith(fullPrefix)) continue;
          found.push({ key: object.Key.slice(this.prefix.length), sizeBytes: object.Size ?? 0 });
        }
        continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (continuationToken !== undefined);
    } catch (error) {
      const mapped = this.mapError(error, 'list', fullPrefix);
      throw mapped.code === 'OBJECT_NOT_FOUND' ? this.bucketNotFound(fullPrefix, error) : mapped;
    }
    return found.sort((a, b) => compareKeys(a.key, b.key));
  }

  async remove(key: string): Promise<void> {
    const fullKey = this.fullKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: fullKey }));
    } catch (error) {
      const mapped = this.mapError(error, 'remove', fullKey);
      if (mapped.code !== 'OBJECT_NOT_FOUND') throw mapped;
    }
  }

  // Closes the client's sockets; the store cannot be used afterwards.
  destroy(): void {
    this.client.destroy();
  }

  private fullKey(key: string): string {
    validateKey(key, this.uri);
    const fullKey = this.prefix + key;
    if (Buffer.byteLength(fullKey, 'utf8') > MAX_KEY_BYTES) {
      throw new StorageError(
        'INVALID_KEY',
        `invalid object key ${JSON.stringify(key)} in ${this.uri}: with the prefix it is longer than ${MAX_KEY_BYTES} bytes`,
      );
    }
    return fullKey;
  }

  private bucketNotFound(fullKey: string, cause: unknown): StorageError {
    return new StorageError(
      'BUCKET_NOT_FOUND',
      `bucket ${JSON.stringify(this.bucket)} does not exist (key ${JSON.stringify(fullKey)})`,
      { cause },
    );
  }

  // Maps an SDK error onto a StorageError naming the bucket and key.
  private mapError(error: unknown, action: string, fullKey: string): StorageError {
    if (error instanceof StorageError) return error;
    const e = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
    const name = e.name ?? '';
    const status = e.$metadata?.httpStatusCode;
    const where = `s3://${this.bucket}/${fullKey}`;
    const detail = [
      name !== '' && name !== 'Error' ? name : e.code,
      status === undefined ? undefined : `HTTP ${status}`,
      e.message,
    ]
      .filter((part) => part !== undefined && part !== '')
      .join(', ');
    if (name === 'NoSuchBucket') return this.bucketNotFound(fullKey, error);
    if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
      return new StorageError('OBJECT_NOT_FOUND', `object ${where} does not exist`, { cause: error });
    }
    if (S3_ACCESS_DENIED_NAMES.has(name) || status === 401 || status === 403) {
      return new StorageError('ACCESS_DENIED', `access denied: cannot ${action} ${where} (${detail})`, {
        cause: error,
      });
    }
    if (name === 'KeyTooLongError') {
      return new StorageError('INVALID_KEY', `object key ${where} is too long (${detail})`, { cause: error });
    }
    const attempts = e.$metadata?.attempts;
    const after = attempts === undefined ? '' : ` after ${attempts} attempt${attempts === 1 ? '' : 's'}`;
    return new StorageError('STORAGE_UNAVAILABLE', `cannot ${action} ${where}${after}: ${detail}`, {
      cause: error,
    });
  }
}
