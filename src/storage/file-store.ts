import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { StorageError } from '../errors.ts';
import type { ObjectInfo, ObjectStore } from './object-store.ts';
import { compareKeys, validateKey, validatePrefix } from './validate-key.ts';

// Temp files of unfinished writes sit beside their target as '.tmp-<name>-<random>' and are never listed.
const TEMP_PREFIX = '.tmp-';

function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

// An object store over a local folder (a plain path or a file:// URI); objects are files under it.
export class FileStore implements ObjectStore {
  readonly uri: string;
  readonly root: string;

  constructor(location: string) {
    let folder: string;
    if (location.startsWith('file:')) {
      try {
        folder = fileURLToPath(location);
      } catch (cause) {
        throw new StorageError('INVALID_STORAGE_URI', `invalid file URI ${JSON.stringify(location)}`, {
          cause,
        });
      }
    } else if (location === '') {
      throw new StorageError('INVALID_STORAGE_URI', 'empty folder path for a file store');
    } else {
      folder = location;
    }
    this.root = resolve(folder);
    this.uri = pathToFileURL(this.root).href;
  }

  async read(key: string): Promise<Uint8Array> {
    const path = this.pathOf(key);
    try {
      const bytes = await readFile(path);
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      throw this.mapError(error, key, 'read');
    }
  }

  async readStream(key: string): Promise<Readable> {
    const path = this.pathOf(key);
    // Open first so that a missing object rejects here rather than as a later stream error.
    try {
      const handle = await open(path, 'r');
      // open() succeeds on a folder on Linux; a folder is not an object.
      let isFile = false;
      try {
        isFile = (await handle.stat()).isFile();
      } finally {
        if (!isFile) await handle.close();
      }
      if (!isFile) throw Object.assign(new Error(`${path} is not a file`), { code: 'EISDIR' });
      return handle.createReadStream();
    } catch (error) {
      throw this.mapError(error, key, 'read');
    }
  }

  async write(key: string, body: Uint8Array | Readable): Promise<void> {
    const path = this.pathOf(key);
    const folder = dirname(path);
    const name = (key.split('/').at(-1) ?? '').slice(0, 100);
    const temp = join(folder, `${TEMP_PREFIX}${name}-${randomBytes(6).toString('hex')}`);
    try {
      await makeFolders(folder).catch((error: NodeJS.ErrnoException) => {
        // A file where a folder should be is a key clash (mapped below); anything else is a folder we may not make.
        if (error.code === 'ENOTDIR' || error.code === 'EEXIST') throw error;
        throw new StorageError(
          'ACCESS_DENIED',
          `cannot create folder ${folder} for "${key}" in ${this.uri} (${error.code ?? error.message})`,
          { cause: error },
        );
      });
      const handle = await open(temp, 'wx');
      try {
        if (body instanceof Readable) {
          for await (const chunk of body) {
            const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
            for (let offset = 0; offset < bytes.byteLength; ) {
              offset += (await handle.write(bytes, offset)).bytesWritten;
            }
          }
        } else {
          await handle.writeFile(body);
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw this.mapError(error, key, 'write');
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const path = this.pathOf(key);
    try {
      const info = await stat(path);
      return info.isFile()
        ? { key, sizeBytes: info.size, revision: `${info.mtimeMs}:${info.ino}` }
        : undefined;
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw this.mapError(error, key, 'stat');
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    validatePrefix(prefix, this.uri);
    // Walk only the deepest folder that the prefix names whole; filter the rest by string prefix.
    const cut = prefix.lastIndexOf('/');
    const baseKey = cut === -1 ? '' : prefix.slice(0, cut + 1);
    const found: ObjectInfo[] = [];
    const walk = async (folderKey: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(join(this.root, ...folderKey.split('/').filter(Boolean)), {
          withFileTypes: true,
        });
      } catch (error) {
        const code = errnoCode(error);
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        throw this.mapError(error, folderKey === '' ? prefix : folderKey, 'list');
      }
      for (const entry of entries) {
        if (entry.name.startsWith(TEMP_PREFIX)) continue;
        const key = folderKey + entry.name;
        if (entry.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(`${key}/`);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          // Files put there by other means under names that are no valid key are not objects.
          const info = await this.stat(key).catch((error: unknown) => {
            if (error instanceof StorageError && error.code === 'INVALID_KEY') return undefined;
            throw error;
          });
          if (info !== undefined) found.push({ key: info.key, sizeBytes: info.sizeBytes });
        }
      }
    };
    await walk(baseKey);
    return found.sort((a, b) => compareKeys(a.key, b.key));
  }

  async remove(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw this.mapError(error, key, 'remove');
    }
  }

  private pathOf(key: string): string {
    validateKey(key, this.uri);
    if (key.split('/').some((segment) => segment.startsWith(TEMP_PREFIX))) {
      throw new StorageError(
        'INVALID_KEY',
        `invalid object key ${JSON.stringify(key)} in ${this.uri}: '${TEMP_PREFIX}' names are reserved for temp files`,
      );
    }
    const path = join(this.root, ...key.split('/'));
    // validateKey already rules out '..'; this guards against any path trick it did not foresee.
    if (!path.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep)) {
      throw new StorageError('INVALID_KEY', `object key ${JSON.stringify(key)} escapes ${this.uri}`);
    }
    return path;
  }

  private mapError(
    error: unknown,
    key: string,
    action: 'read' | 'write' | 'stat' | 'list' | 'remove',
  ): StorageError {
    if (error instanceof StorageError) return error;
    const where = `${JSON.stringify(key)} in ${this.uri}`;
    const code = errnoCode(error);
    if (action === 'write' && (code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST')) {
      // A key cannot be both an object and a folder of objects on a file system.
      return new StorageError('INVALID_KEY', `cannot write ${where}: it clashes with a folder or an object`, {
        cause: error,
      });
    }
    switch (code) {
      case 'ENOENT':
      case 'ENOTDIR':
      case 'EISDIR':
        return new StorageError('OBJECT_NOT_FOUND', `object ${where} does not exist`, { cause: error });
      case 'ENAMETOOLONG':
        return new StorageError('INVALID_KEY', `object key ${where} is too long for this file system`, {
          cause: error,
        });
      case 'EACCES':
      case 'EPERM':
      case 'EROFS':
        return new StorageError('ACCESS_DENIED', `access denied: cannot ${action} ${where}`, {
          cause: error,
        });
      default:
        return new StorageError('STORAGE_UNAVAILABLE', `cannot ${action} ${where}: ${String(error)}`, {
          cause: error,
        });
    }
  }
}

// mkdir -p, one level at a time: Node's own recursive mkdir never settles on some paths (under /proc it
// loops), which would hang a write instead of failing it.
async function makeFolders(folder: string): Promise<void> {
  const missing: string[] = [];
  for (let current = folder; ; current = dirname(current)) {
    try {
      if ((await stat(current)).isDirectory()) break;
      throw Object.assign(new Error(`ENOTDIR: not a directory, '${current}'`), { code: 'ENOTDIR' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      missing.push(current);
      if (dirname(current) === current) break;
    }
  }
  for (const path of missing.reverse()) {
    await mkdir(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
}
