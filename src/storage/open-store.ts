import { StorageError } from '../errors.ts';
import { FileStore } from './file-store.ts';
import type { ObjectStore } from './object-store.ts';
import { S3Store, type S3StoreOptions } from './s3-store.ts';

// Settings for the kinds of store openStore can open; each applies only to its kind.
export interface OpenStoreOptions {
  s3?: S3StoreOptions;
}

// A URI scheme such as 's3:' or 'http:' (two letters or more, so that a Windows drive 'C:' is a path).
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]+):/;

// Opens the store a location names: a folder path or file:///abs/path (FileStore), or s3://bucket/prefix
// (S3Store).
export function openStore(uri: string, options: OpenStoreOptions = {}): ObjectStore {
  if (uri.trim() === '') {
    throw new StorageError(
      'INVALID_STORAGE_URI',
      'empty storage location: expected a folder path, file:///abs/path or s3://bucket/prefix',
    );
  }
  const scheme = SCHEME.exec(uri)?.[1]?.toLowerCase();
  if (scheme === undefined) return new FileStore(uri);
  if (scheme === 'file') return new FileStore(uri);
  if (scheme === 's3') return new S3Store(uri, options.s3);
  throw new StorageError(
    'INVALID_STORAGE_URI',
    `unsupported storage location ${JSON.stringify(uri)}: expected a folder path, file:///abs/path or s3://bucket/prefix`,
  );
}
