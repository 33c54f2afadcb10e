import type { Readable } from 'node:stream';

// What a store knows of one object without reading it.
export interface ObjectInfo {
  key: string;
  sizeBytes: number;
  // From stat only: changes whenever the object is written again (a file's modification time and inode, an S3
  // object's ETag and Last-Modified), so that a reader can tell a rewritten object of the same size.
  revision?: string;
}

// One small interface over a local folder and S3. Keys are '/'-separated, relative to the store's root,
// never absolute and never containing '..'. Errors are StorageError with codes OBJECT_NOT_FOUND,
// ACCESS_DENIED, BUCKET_NOT_FOUND, STORAGE_UNAVAILABLE or INVALID_KEY, each naming the key and the store.
export interface ObjectStore {
  // The root, as a URI: file:///abs/path or s3://bucket/prefix.
  readonly uri: string;
  // The whole object in memory (for small objects: manifests, LATEST, vocabularies).
  read(key: string): Promise<Uint8Array>;
  // The object as a stream (for large objects: weights).
  readStream(key: string): Promise<Readable>;
  // Writes the object whole; a reader never sees a partial object (folder: temp file + rename; S3: one PUT
  // or a multipart upload completed at the end).
  write(key: string, body: Uint8Array | Readable): Promise<void>;
  // Size of the object, or undefined when it does not exist.
  stat(key: string): Promise<ObjectInfo | undefined>;
  // Every object whose key starts with the prefix, sorted by key.
  list(prefix: string): Promise<ObjectInfo[]>;
  // Removes the object; removing a missing object is not an error.
  remove(key: string): Promise<void>;
}
