import { createHash } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VersionSchema } from '../src/artifact/manifest.ts';
import { type LoadedSupernet, readSupernetAt } from '../src/artifact/read-supernet.ts';
import { ArtifactError, StorageError } from '../src/errors.ts';
import { FileStore } from '../src/storage/file-store.ts';
import type { ObjectStore } from '../src/storage/object-store.ts';
import { openStore } from '../src/storage/open-store.ts';
import type { S3StoreOptions } from '../src/storage/s3-store.ts';

const VERSION_FILES = ['vocab.txt', 'weights.bin', 'manifest.json'] as const;

// Where the supernet comes from: SUPERNET_URI names one version folder (fixed) or a model root whose LATEST
// names the version to serve (polled for hot reload).
export interface ArtifactSource {
  readonly uri: string;
  readonly kind: 'version' | 'model';
  // The version LATEST names now; undefined for a version folder.
  latestVersion(): Promise<string | undefined>;
  // Reads and verifies a version (checksums, manifest schema): `version` of a model root, or the folder itself.
  read(version: string | undefined): Promise<LoadedSupernet>;
  // What the version's files are now (size and revision of each, or missing): a refused version is read again
  // once this changes.
  fingerprint(version: string | undefined): Promise<string>;
}

// Options of openArtifactSource.
export interface ArtifactSourceOptions {
  s3?: S3StoreOptions;
  maxWeightBytes: number;
  // A local folder to keep verified copies in (Lambda: /tmp), so that a warm start reads no network.
  cacheDir?: string | undefined;
}

// Checks once, at start, that SUPERNET_URI can ever name a supernet: an unsupported scheme, a malformed S3 URI or a
// local folder that does not exist (or is a file) never will (StorageError INVALID_STORAGE_URI), so the server
// exits rather than staying not ready. Storage that is down, or a LATEST not yet written, may still come right:
// those are left to the loader, which retries.
export async function checkArtifactLocation(uri: string, options: { s3?: S3StoreOptions }): Promise<void> {
  const store = openStore(uri, { s3: options.s3 });
  if (!(store instanceof FileStore)) return;
  const info = await stat(store.root).catch(() => undefined);
  if (info === undefined) {
    throw new StorageError(
      'INVALID_STORAGE_URI',
      `${store.root} does not exist: name a model root (it holds LATEST) or a version folder`,
    );
  }
  if (!info.isDirectory()) {
    throw new StorageError(
      'INVALID_STORAGE_URI',
      `${store.root} is a file: name a model root (it holds LATEST) or a version folder`,
    );
  }
}

// Opens SUPERNET_URI and finds out what it names; ARTIFACT_NOT_FOUND when it names neither kind (yet).
export async function openArtifactSource(
  uri: string,
  options: ArtifactSourceOptions,
): Promise<ArtifactSource> {
  const store = openStore(uri, { s3: options.s3 });
  if (await store.stat('manifest.json')) return new StoreSource(store, 'version', options);
  if (await store.stat('LATEST')) return new StoreSource(store, 'model', options);
  throw new ArtifactError(
    'ARTIFACT_NOT_FOUND',
    `no supernet at ${store.uri}: neither manifest.json (a version folder) nor LATEST (a model root) exists`,
  );
}

class StoreSource implements ArtifactSource {
  readonly uri: string;
  readonly kind: 'version' | 'model';
  private readonly store: ObjectStore;
  private readonly options: ArtifactSourceOptions;

  constructor(store: ObjectStore, kind: 'version' | 'model', options: ArtifactSourceOptions) {
    this.store = store;
    this.uri = store.uri;
    this.kind = kind;
    this.options = options;
  }

  async latestVersion(): Promise<string | undefined> {
    if (this.kind === 'version') return undefined;
    const bytes = await this.store.read('LATEST');
    if (bytes.byteLength > 1024) {
      throw new ArtifactError(
        'MALFORMED_MANIFEST',
        `${this.uri}/LATEST is ${bytes.byteLength} bytes, larger than a version id: ${showBytes(bytes)}`,
      );
    }
    const text = new TextDecoder().decode(bytes).trim();
    const parsed = VersionSchema.safeParse(text);
    if (!parsed.success) {
      throw new ArtifactError(
        'MALFORMED_MANIFEST',
        `${this.uri}/LATEST does not hold a version id: ${showBytes(bytes)}`,
      );
    }
    return parsed.data;
  }

  async fingerprint(version: string | undefined): Promise<string> {
    const prefix = this.kind === 'model' ? `${VersionSchema.parse(version)}/` : '';
    const files = await Promise.all(
      VERSION_FILES.map(async (file) => {
        const info = await this.store.stat(`${prefix}${file}`);
        return info ? `${file}:${info.sizeBytes}:${info.revision ?? ''}` : `${file}:missing`;
      }),
    );
    return files.join(' ');
  }

  async read(version: string | undefined): Promise<LoadedSupernet> {
    const prefix = this.kind === 'model' ? `${VersionSchema.parse(version)}/` : '';
    const limits = { maxWeightBytes: this.options.maxWeightBytes };
    const supernet =
      this.options.cacheDir === undefined
        ? await readSupernetAt(this.store, prefix, limits)
        : await this.readThroughCache(this.options.cacheDir, prefix, version, limits);
    if (version !== undefined && supernet.manifest.version !== version) {
      throw new ArtifactError(
        'MALFORMED_MANIFEST',
        `${this.uri}/${prefix}manifest.json describes version ${supernet.manifest.version}, not ${version}: a manifest's version must be its folder's name (npm run publish-version publishes a folder under its manifest's version)`,
      );
    }
    return supernet;
  }

  // Reads the local copy when there is a good one; else copies the version's files (manifest last) and reads
  // the copy. Either way the copy is verified against the manifest's checksums; a bad copy is removed.
  private async readThroughCache(
    cacheDir: string,
    prefix: string,
    version: string | undefined,
    limits: { maxWeightBytes: number },
  ): Promise<LoadedSupernet> {
    const key = createHash('sha256')
      .update(`${this.uri}\n${version ?? ''}`)
      .digest('hex')
      .slice(0, 24);
    const dir = join(cacheDir, key);
    const local = new FileStore(dir);
    if (await local.stat('manifest.json')) {
      try {
        return await readSupernetAt(local, '', limits);
      } catch {
        await rm(dir, { recursive: true, force: true });
      }
    }
    const weights = await this.store.stat(`${prefix}weights.bin`);
    if (weights && weights.sizeBytes > limits.maxWeightBytes) {
      throw new ArtifactError(
        'INVALID_ARTIFACT',
        `${this.uri}/${prefix}weights.bin is ${weights.sizeBytes} bytes, more than the ${limits.maxWeightBytes} allowed`,
      );
    }
    await mkdir(dir, { recursive: true });
    try {
      for (const file of VERSION_FILES) {
        await local.write(file, await this.store.readStream(`${prefix}${file}`));
      }
      return await readSupernetAt(local, '', limits);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }
}

// Up to `max` bytes of an object for a message: printable ASCII as it is, every other byte escaped (\n, \x00),
// quoted, with the size when there is more.
export function showBytes(bytes: Uint8Array, max = 40): string {
  let text = '';
  for (const byte of bytes.subarray(0, max)) {
    if (byte === 0x5c) text += '\\\\';
    else if (byte === 0x22) text += '\\"';
    else if (byte === 0x0a) text += '\\n';
    else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else text += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return `"${text}"${bytes.byteLength > max ? ` (the first ${max} of ${bytes.byteLength} bytes)` : ''}`;
}
