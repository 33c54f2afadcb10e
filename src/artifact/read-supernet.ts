import { createHash } from 'node:crypto';
import { ArtifactError, StorageError } from '../errors.ts';
import type { WeightTensor } from '../model/weights.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import {
  type FileDigest,
  type Manifest,
  parseArtifactName,
  parseManifest,
  VersionSchema,
} from './manifest.ts';
import { unpackWeights } from './weights-file.ts';

const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
const MAX_LATEST_BYTES = 1024;
const MAX_VOCAB_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_WEIGHT_BYTES = 2 * 1024 * 1024 * 1024;

// A verified supernet version, ready to load.
export interface LoadedSupernet {
  manifest: Manifest;
  weights: Map<string, WeightTensor>;
  vocabText: string;
  // The key prefix of the version folder it was read from ('' when the store is rooted at it).
  prefix: string;
}

// Limits for reading.
export interface ReadLimits {
  // Refuse a weights.bin larger than this (default 2 GiB), before allocating it.
  maxWeightBytes?: number;
}

// Reads `<model>/<version>/` of a store rooted at the artifact root; `version` defaults to `<model>/LATEST`.
export async function readSupernet(
  store: ObjectStore,
  options: { model: string; version?: string } & ReadLimits,
): Promise<LoadedSupernet> {
  const model = parseArtifactName('model', options.model);
  const version =
    options.version === undefined
      ? await resolveLatestVersion(store, model)
      : parseArtifactName('version', options.version);
  const via = options.version === undefined ? ` (named by '${model}/LATEST')` : '';
  return readVersionFolder(store, `${model}/${version}/`, { model, version }, options, via);
}

// Reads the supernet at a folder of the store (default its root): a version folder (it holds manifest.json),
// or a model folder (it holds LATEST, which is followed). For a SUPERNET_URI that names either.
export async function readSupernetAt(
  store: ObjectStore,
  prefix = '',
  limits: ReadLimits = {},
): Promise<LoadedSupernet> {
  const folder = prefix.replace(/^\/+|\/+$/g, '');
  const base = folder === '' ? '' : `${folder}/`;
  if (await store.stat(`${base}manifest.json`)) return readVersionFolder(store, base, {}, limits, '');
  const latestKey = `${base}LATEST`;
  if (await store.stat(latestKey)) {
    const version = await readLatest(store, latestKey);
    return readVersionFolder(store, `${base}${version}/`, { version }, limits, ` (named by '${latestKey}')`);
  }
  throw new ArtifactError(
    'ARTIFACT_NOT_FOUND',
    `no supernet at '${base}' in ${store.uri}: neither '${base}manifest.json' nor '${latestKey}' exists`,
  );
}

// The version `<model>/LATEST` names (validated as a version id).
export async function resolveLatestVersion(store: ObjectStore, model: string): Promise<string> {
  return readLatest(store, `${parseArtifactName('model', model)}/LATEST`);
}

async function readLatest(store: ObjectStore, key: string): Promise<string> {
  const bytes = await readSmallObject(store, key, MAX_LATEST_BYTES, 'MALFORMED_MANIFEST');
  const text = decodeUtf8(bytes, key, 'MALFORMED_MANIFEST').trim();
  const parsed = VersionSchema.safeParse(text);
  if (!parsed.success) {
    throw new ArtifactError(
      'MALFORMED_MANIFEST',
      `'${key}' does not hold a version id ('${text.slice(0, 40)}'): ${parsed.error.issues[0]?.message}`,
    );
  }
  return parsed.data;
}

async function readVersionFolder(
  store: ObjectStore,
  prefix: string,
  expect: { model?: string; version?: string },
  limits: ReadLimits,
  via: string,
): Promise<LoadedSupernet> {
  const manifestKey = `${prefix}manifest.json`;
  const manifestBytes = await readSmallObject(
    store,
    manifestKey,
    MAX_MANIFEST_BYTES,
    'MALFORMED_MANIFEST',
    via,
  );
  let json: unknown;
  try {
    json = JSON.parse(decodeUtf8(manifestBytes, manifestKey, 'MALFORMED_MANIFEST'));
  } catch (err) {
    if (err instanceof ArtifactError) throw err;
    throw new ArtifactError(
      'MALFORMED_MANIFEST',
      `manifest '${manifestKey}': not valid JSON (${(err as Error).message})`,
      {
        cause: err,
      },
    );
  }
  const manifest = parseManifest(json, manifestKey);
  if (
    (expect.model !== undefined && manifest.model !== expect.model) ||
    (expect.version !== undefined && manifest.version !== expect.version)
  ) {
    throw new ArtifactError(
      'MALFORMED_MANIFEST',
      `manifest '${manifestKey}' describes ${manifest.model} version ${manifest.version}, ` +
        `not ${expect.model ?? manifest.model} version ${expect.version ?? manifest.version}`,
    );
  }

  const vocabKey = `${prefix}vocab.txt`;
  const vocabDigest = manifest.files['vocab.txt'];
  if (vocabDigest.bytes > MAX_VOCAB_BYTES) {
    throw new ArtifactError(
      'MALFORMED_MANIFEST',
      `manifest '${manifestKey}': vocab.txt of ${vocabDigest.bytes} bytes exceeds the ${MAX_VOCAB_BYTES} allowed`,
    );
  }
  await checkSize(store, vocabKey, vocabDigest);
  const vocabBytes = await notFoundAsArtifactError(vocabKey, store, () => store.read(vocabKey));
  checkDigest(
    vocabKey,
    vocabDigest,
    vocabBytes.byteLength,
    createHash('sha256').update(vocabBytes).digest('hex'),
  );
  const vocabText = decodeUtf8(vocabBytes, vocabKey, 'INVALID_ARTIFACT');

  const weightsKey = `${prefix}weights.bin`;
  const weightsDigest = manifest.files['weights.bin'];
  const maxWeightBytes = limits.maxWeightBytes ?? DEFAULT_MAX_WEIGHT_BYTES;
  if (weightsDigest.bytes > maxWeightBytes) {
    throw new ArtifactError(
      'INVALID_ARTIFACT',
      `'${weightsKey}' is ${weightsDigest.bytes} bytes, more than the ${maxWeightBytes} allowed (maxWeightBytes)`,
    );
  }
  await checkSize(store, weightsKey, weightsDigest);
  const weightBytes = await streamVerified(store, weightsKey, weightsDigest);
  return { manifest, weights: unpackWeights(weightBytes, manifest.weights.entries), vocabText, prefix };
}

// Streams an object into one buffer of the size the manifest gives, hashing as it goes (one copy in memory).
async function streamVerified(store: ObjectStore, key: string, digest: FileDigest): Promise<Uint8Array> {
  const stream = await notFoundAsArtifactError(key, store, () => store.readStream(key));
  const bytes = new Uint8Array(digest.bytes);
  const hash = createHash('sha256');
  let received = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array | string>) {
      const piece = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (received + piece.byteLength > bytes.byteLength) {
        throw sizeMismatch(key, digest.bytes, `more than ${received + piece.byteLength}`);
      }
      bytes.set(piece, received);
      hash.update(piece);
      received += piece.byteLength;
    }
  } finally {
    stream.destroy();
  }
  checkDigest(key, digest, received, hash.digest('hex'));
  return bytes;
}

async function checkSize(store: ObjectStore, key: string, digest: FileDigest): Promise<void> {
  const info = await store.stat(key);
  if (!info) throw notFound(store, key, '');
  if (info.sizeBytes !== digest.bytes) throw sizeMismatch(key, digest.bytes, `${info.sizeBytes}`);
}

function checkDigest(key: string, digest: FileDigest, actualBytes: number, actualSha256: string): void {
  if (actualBytes !== digest.bytes) throw sizeMismatch(key, digest.bytes, `${actualBytes}`);
  if (actualSha256 !== digest.sha256) {
    throw new ArtifactError(
      'CHECKSUM_MISMATCH',
      `'${key}': sha256 is ${actualSha256}, the manifest expects ${digest.sha256}`,
    );
  }
}

function sizeMismatch(key: string, expectedBytes: number, actual: string): ArtifactError {
  return new ArtifactError(
    'TRUNCATED_FILE',
    `'${key}' is ${actual} bytes, the manifest expects ${expectedBytes} bytes`,
  );
}

// Reads a small object whole after checking its size; `tooLarge` is the code for one over the limit.
async function readSmallObject(
  store: ObjectStore,
  key: string,
  maxBytes: number,
  tooLarge: 'MALFORMED_MANIFEST',
  via = '',
): Promise<Uint8Array> {
  const info = await store.stat(key);
  if (!info) throw notFound(store, key, via);
  const tooBig = (size: number) =>
    new ArtifactError(tooLarge, `'${key}' is ${size} bytes, more than the ${maxBytes} expected`);
  if (info.sizeBytes > maxBytes) throw tooBig(info.sizeBytes);
  const bytes = await notFoundAsArtifactError(key, store, () => store.read(key), via);
  if (bytes.byteLength > maxBytes) throw tooBig(bytes.byteLength);
  return bytes;
}

async function notFoundAsArtifactError<T>(
  key: string,
  store: ObjectStore,
  read: () => Promise<T>,
  via = '',
): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof StorageError && err.code === 'OBJECT_NOT_FOUND') throw notFound(store, key, via, err);
    throw err;
  }
}

function notFound(store: ObjectStore, key: string, via: string, cause?: unknown): ArtifactError {
  const message = `'${key}'${via} does not exist in ${store.uri}`;
  return new ArtifactError('ARTIFACT_NOT_FOUND', message, cause === undefined ? undefined : { cause });
}

function decodeUtf8(bytes: Uint8Array, key: string, code: 'MALFORMED_MANIFEST' | 'INVALID_ARTIFACT'): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new ArtifactError(code, `'${key}' is not valid UTF-8`, { cause: err });
  }
}
