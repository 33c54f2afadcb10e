// Named errors of the core. Each carries a stable `code`; no HTTP status (serving maps codes to statuses).

export type ErrorCode =
  // model and subnet configs
  | 'INVALID_SUPERNET_CONFIG'
  | 'INVALID_SUBNET'
  | 'INVALID_SUBNET_ID'
  | 'SUBNET_OUT_OF_RANGE'
  | 'UNKNOWN_SUBNET'
  | 'INVALID_INPUT'
  | 'MISSING_WEIGHT'
  | 'UNEXPECTED_WEIGHT'
  | 'WEIGHT_SHAPE_MISMATCH'
  // backend
  | 'BACKEND_UNAVAILABLE'
  // engines and the subnet cache
  | 'ENGINE_UNAVAILABLE'
  | 'ENGINE_FAILED'
  | 'SUBNET_DISPOSED'
  | 'CACHE_BUDGET_EXCEEDED'
  // tokenizer
  | 'INVALID_VOCABULARY'
  | 'INVALID_TOKENIZER_OPTIONS'
  // artifact
  | 'MALFORMED_MANIFEST'
  | 'UNSUPPORTED_FORMAT_VERSION'
  | 'CHECKSUM_MISMATCH'
  | 'TRUNCATED_FILE'
  | 'ARTIFACT_NOT_FOUND'
  | 'INVALID_ARTIFACT'
  | 'VERSION_EXISTS'
  // pretrained checkpoints
  | 'MALFORMED_CHECKPOINT'
  | 'UNSUPPORTED_CHECKPOINT'
  // storage
  | 'INVALID_STORAGE_URI'
  | 'OBJECT_NOT_FOUND'
  | 'ACCESS_DENIED'
  | 'BUCKET_NOT_FOUND'
  | 'STORAGE_UNAVAILABLE'
  | 'INVALID_KEY';

// The base of every error the core throws on purpose.
export class SupernetError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class ModelError extends SupernetError {}
export class BackendError extends SupernetError {}
export class EngineError extends SupernetError {}
export class TokenizerError extends SupernetError {}
export class ArtifactError extends SupernetError {}
export class StorageError extends SupernetError {}
export class CheckpointError extends SupernetError {}

export function isSupernetError(value: unknown): value is SupernetError {
  return value instanceof SupernetError;
}
