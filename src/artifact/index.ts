// The artifact format: publish a supernet version to a store, read and verify it back.
export { decodeFloat16, encodeFloat16, fromFloat16Bits, toFloat16Bits } from './float16.ts';
export {
  DTYPE_BYTES,
  type FileDigest,
  FileDigestSchema,
  FORMAT_VERSION,
  type Manifest,
  ManifestSchema,
  ModelNameSchema,
  type Provenance,
  ProvenanceSchema,
  parseArtifactName,
  parseManifest,
  READABLE_FORMAT_VERSIONS,
  type SearchSpace,
  SearchSpaceSchema,
  SINGLE_TEXT_TASK,
  type Task,
  TaskFieldsSchema,
  TaskSchema,
  type TokenizerSettings,
  TokenizerSettingsSchema,
  VersionSchema,
  WEIGHT_ALIGNMENT_BYTES,
  type WeightEntry,
  WeightEntrySchema,
  weightByteLength,
} from './manifest.ts';
export { type PublishSupernetOptions, publishSupernet, sha256Hex } from './publish-supernet.ts';
export {
  type LoadedSupernet,
  type ReadLimits,
  readSupernet,
  readSupernetAt,
  resolveLatestVersion,
} from './read-supernet.ts';
export { type PackedWeights, packWeights, unpackWeights } from './weights-file.ts';
