import { z } from 'zod';
import { describeIssues } from '../describe-issues.ts';
import { StorageError } from '../errors.ts';
import type { S3StoreOptions } from './s3-store.ts';

// The environment variables that shape an S3Store. Credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, AWS_PROFILE, container and instance roles) are left to the SDK's default chain.
export const S3EnvSchema = z.object({
  AWS_REGION: z.string().min(1).optional(),
  AWS_DEFAULT_REGION: z.string().min(1).optional(),
  // An S3-compatible server; AWS_ENDPOINT_URL_S3 wins over the all-services AWS_ENDPOINT_URL.
  AWS_ENDPOINT_URL_S3: z.url().optional(),
  AWS_ENDPOINT_URL: z.url().optional(),
  // true/false, 1/0, yes/no, on/off.
  S3_FORCE_PATH_STYLE: z.stringbool().optional(),
  AWS_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).optional(),
});

// Maps an environment (callers pass their own) to S3Store options; unset and empty variables are left out.
export function s3OptionsFromEnv(env: Record<string, string | undefined>): S3StoreOptions {
  const present = Object.fromEntries(
    Object.keys(S3EnvSchema.shape)
      .map((name) => [name, env[name]] as const)
      .filter(([, value]) => value !== undefined && value.trim() !== ''),
  );
  const parsed = S3EnvSchema.safeParse(present);
  if (!parsed.success) {
    throw new StorageError(
      'INVALID_STORAGE_URI',
      `invalid S3 settings in the environment: ${describeIssues(parsed.error)}`,
      { cause: parsed.error },
    );
  }
  const vars = parsed.data;
  const options: S3StoreOptions = {};
  const region = vars.AWS_REGION ?? vars.AWS_DEFAULT_REGION;
  if (region !== undefined) options.region = region;
  const endpoint = vars.AWS_ENDPOINT_URL_S3 ?? vars.AWS_ENDPOINT_URL;
  if (endpoint !== undefined) options.endpoint = endpoint;
  if (vars.S3_FORCE_PATH_STYLE !== undefined) options.forcePathStyle = vars.S3_FORCE_PATH_STYLE;
  if (vars.AWS_MAX_ATTEMPTS !== undefined) options.maxAttempts = vars.AWS_MAX_ATTEMPTS;
  return options;
}
