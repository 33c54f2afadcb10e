// The storage layer's public API: one ObjectStore interface over a folder and S3.
export { FileStore } from './file-store.ts';
export type { ObjectInfo, ObjectStore } from './object-store.ts';
export { type OpenStoreOptions, openStore } from './open-store.ts';
export { S3EnvSchema, s3OptionsFromEnv } from './s3-options-from-env.ts';
export { S3Store, type S3StoreOptions, S3StoreOptionsSchema } from './s3-store.ts';
export { MAX_KEY_BYTES, validateKey } from './validate-key.ts';
