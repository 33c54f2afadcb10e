import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

// Lambda's own limits and CloudWatch Logs' allowed retention periods.
const LAMBDA_MEMORY_MB = { min: 128, max: 10_240 };
const LAMBDA_TIMEOUT_SECONDS = { min: 1, max: 900 };
const LAMBDA_EPHEMERAL_MB = { min: 512, max: 10_240 };
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;
// NVIDIA GPU families that the ECS AL2023 NVIDIA AMI supports (no p3/g3, no AMD g4ad, no Graviton g5g).
const GPU_INSTANCE_TYPE = /^(g4dn|g5|g6|g6e|gr6|p4d|p4de|p5|p5e)\.[0-9]*x?large$/;
// An S3 key prefix: lower-case words joined by '/' (a word never starts with '.', so no '..').
const KEY_PREFIX = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;
// A model name, as the artifact format allows it (training/config.ts checks the same).
const MODEL_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
// A serving environment variable the stack sets itself or Lambda reserves.
const RESERVED_ENV = /^(SUPERNET_URI|MODELS|NODE_OPTIONS|AWS_.*|LAMBDA_.*|_.*)$/;

// Context values typed on the command line (`-c key=value`) arrive as strings: read them as numbers.
function numberFromText(value: unknown): unknown {
  if (typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  return value;
}

function booleanFromText(value: unknown): unknown {
  if (value === 'true') return true;
  if (value === 'false') return false;
  return value;
}

// A comma-separated list on the command line, an array in cdk.json.
function listFromText(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

// A JSON object on the command line, an object in cdk.json.
function objectFromText(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function integer(min: number, max: number, unit: string) {
  return z.preprocess(
    numberFromText,
    z
      .number({ error: `must be a whole number of ${unit}` })
      .int({ error: `must be a whole number of ${unit}` })
      .min(min, { error: `must be at least ${min} ${unit}` })
      .max(max, { error: `must be at most ${max} ${unit}` }),
  );
}

function flag() {
  return z.preprocess(booleanFromText, z.boolean({ error: 'must be true or false' }));
}

function keyPrefix(what: string) {
  return z.string({ error: `must be a string: ${what}` }).superRefine((s, ctx) => {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
      ctx.addIssue({
        code: 'custom',
        input: s,
        message:
          "must be a key prefix inside the model bucket (e.g. 'supernet'), not a URI: the bucket is the storage stack's",
      });
    } else if (!KEY_PREFIX.test(s) || s.length > 200) {
      ctx.addIssue({
        code: 'custom',
        input: s,
        message: `must be at most 200 characters of lower-case words joined by '/', no leading or trailing '/', no '..': ${what}`,
      });
    }
  });
}

// Every deployment parameter, read from CDK context (cdk.json or `-c key=value`), with its default.
export const CdkConfigSchema = z
  .object({
    // Names the deployment: stack names carry it, so two stages never collide (resource names are generated).
    stage: z
      .string({ error: 'must be a string' })
      .regex(/^[a-z][a-z0-9-]{0,19}$/, { error: 'must be 1-20 lower-case letters, digits or dashes' })
      .default('dev'),
    // Deploy to a fixed account and region; both or neither. Without them the stacks are environment-agnostic.
    account: z
      .preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string())
      .refine((s) => /^\d{12}$/.test(s), { error: 'must be a 12-digit AWS account id' })
      .optional(),
    region: z
      .string({ error: 'must be a string' })
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: "must be an AWS region such as 'eu-west-1'" })
      .optional(),
    // The training job writes under s3://<bucket>/<modelPrefix>/ and publishes to <modelPrefix>/models;
    // the API reads <modelPrefix>/models/<modelName>/{LATEST,<version>/...}.
    modelPrefix: keyPrefix(
      'the training job writes under it, the API reads <modelPrefix>/models/<modelName>',
    ).default('supernet'),
    // The model the API serves; by default the one trainingConfig publishes (its "model").
    modelName: z
      .string({ error: 'must be a string' })
      .regex(MODEL_NAME, { error: 'must be 1-63 lower-case letters, digits or dashes' })
      .optional(),

    // Several models from one API: a list of model names under <modelPrefix>/models (read access on exactly
    // those prefixes), or ['*'] for every model there. Unset: the one model modelName names.
    servedModels: z
      .preprocess(
        listFromText,
        z
          .array(
            z
              .string({ error: 'must be model names' })
              .refine((name) => name === '*' || MODEL_NAME.test(name), {
                error: "must be model names (1-63 lower-case letters, digits or dashes) or '*'",
              }),
          )
          .min(1, { error: 'must name at least one model' })
          .refine((names) => !names.includes('*') || names.length === 1, {
            error: "must be '*' alone or a list of model names",
          }),
      )
      .optional(),

    servingMemoryMb: integer(LAMBDA_MEMORY_MB.min, LAMBDA_MEMORY_MB.max, 'MB').default(2048),
    servingTimeoutSeconds: integer(LAMBDA_TIMEOUT_SECONDS.min, LAMBDA_TIMEOUT_SECONDS.max, 'seconds').default(
      30,
    ),
    servingEphemeralStorageMb: integer(LAMBDA_EPHEMERAL_MB.min, LAMBDA_EPHEMERAL_MB.max, 'MB').default(1024),
    // Unset: the function shares the account's unreserved pool.
    servingReservedConcurrency: integer(1, 100_000, 'executions').optional(),
    servingProvisionedConcurrency: integer(0, 100_000, 'executions').default(0),
    servingLogRetentionDays: z
      .preprocess(numberFromText, z.number({ error: 'must be a number of days' }))
      .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
        error: `must be one of CloudWatch Logs' periods: ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(30),
    // The p99 Duration above which the latency alarm fires.
    servingP99AlarmMs: integer(1, 900_000, 'ms').default(1000),
    // The budget a request gets when it declares none (DEFAULT_LATENCY_BUDGET_MS in the function).
    defaultLatencyBudgetMs: integer(1, 900_000, 'ms').optional(),
    // More environment for the function (the serving config's own variables), passed through as given.
    servingEnvironment: z
      .preprocess(
        objectFromText,
        z.record(
          z.string().regex(/^[A-Z][A-Z0-9_]*$/, { error: 'variable names must be UPPER_SNAKE_CASE' }),
          z.string({ error: 'values must be strings' }),
          { error: 'must be an object of string values (JSON on the command line)' },
        ),
      )
      .refine((env) => Object.keys(env).every((k) => !RESERVED_ENV.test(k)), {
        error:
          'must not set SUPERNET_URI, MODELS (servedModels sets it), NODE_OPTIONS or variables Lambda reserves (AWS_*, LAMBDA_*, _*)',
      })
      .default({}),
    // An SNS topic for the alarms; without it the alarms only show in CloudWatch.
    alarmTopicArn: z
      .string({ error: 'must be a string' })
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, {
        error: 'must be an SNS topic ARN',
      })
      .optional(),

    // The training CLI's config file, relative to the repository root; the image holds it under training/.
    trainingConfig: z
      .string({ error: 'must be a string (a path under training/, e.g. training/configs/default.json)' })
      .regex(/^training\/[A-Za-z0-9._/-]{1,500}$/, {
        error: 'must be a path under training/ (the only folder of configs the image copies)',
      })
      .refine((s) => !s.split('/').includes('..'), { error: "must not contain '..'" })
      .default('training/configs/default.json'),
    // The tfjs backend the job asks for (`--backend`): node-gpu on GPU hosts; the CLI's own default is wasm.
    trainingBackend: z
      .enum(['node-gpu', 'auto', 'node', 'wasm', 'cpu'], {
        error: 'must be node-gpu, auto, node, wasm or cpu',
      })
      .default('node-gpu'),
    trainingInstanceTypes: z
      .preprocess(
        listFromText,
        z
          .array(z.string({ error: 'instance types must be strings' }), { error: 'must be a list' })
          .min(1, { error: 'must name at least one instance type' }),
      )
      .refine((types) => types.every((t) => GPU_INSTANCE_TYPE.test(t)), {
        error:
          'must be NVIDIA GPU instance types the AL2023 NVIDIA AMI supports, e.g. g4dn.xlarge, g5.xlarge',
      })
      .default(['g4dn.xlarge', 'g5.xlarge']),
    trainingVcpus: integer(1, 192, 'vCPUs').default(4),
    trainingMemoryMb: integer(1024, 2_000_000, 'MiB').default(14_336),
    trainingMaxVcpus: integer(1, 10_000, 'vCPUs').default(8),
    trainingSpot: flag().default(false),
    trainingTimeoutHours: integer(1, 14 * 24, 'hours').default(24),
    trainingLogRetentionDays: z
      .preprocess(numberFromText, z.number({ error: 'must be a number of days' }))
      .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
        error: `must be one of CloudWatch Logs' periods: ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(90),
    // Run the training job in an existing VPC (looked up at synth: needs account, region and credentials).
    vpcId: z
      .string({ error: 'must be a string' })
      .regex(/^vpc-[0-9a-f]{8,17}$/, { error: "must be a VPC id such as 'vpc-0123456789abcdef0'" })
      .optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.account === undefined) !== (c.region === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [c.account === undefined ? 'account' : 'region'],
        message: 'account and region go together: give both or neither',
      });
    }
    if (c.vpcId !== undefined && c.account === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['vpcId'],
        input: c.vpcId,
        message: 'a VPC lookup needs a fixed account and region (-c account=... -c region=...)',
      });
    }
    const reserved = c.servingReservedConcurrency;
    if (reserved !== undefined && c.servingProvisionedConcurrency > reserved) {
      ctx.addIssue({
        code: 'custom',
        path: ['servingProvisionedConcurrency'],
        input: c.servingProvisionedConcurrency,
        message: `must not exceed servingReservedConcurrency (${reserved})`,
      });
    }
    if (c.servingP99AlarmMs > c.servingTimeoutSeconds * 1000) {
      ctx.addIssue({
        code: 'custom',
        path: ['servingP99AlarmMs'],
        input: c.servingP99AlarmMs,
        message: `must not exceed the function timeout (${c.servingTimeoutSeconds * 1000} ms): it could never fire`,
      });
    }
  });
export type CdkConfig = z.infer<typeof CdkConfigSchema>;
// The parameters once the model name is known (given, or read from the training config).
export type ResolvedCdkConfig = CdkConfig & { modelName: string };

const KNOWN_KEYS = new Set(Object.keys(CdkConfigSchema.shape));
// Context keys that look like ours: a typo among them must not be ignored silently.
const OUR_KEY = /^(stage|account|region|model|serving|training|defaultLatency|alarm|vpc)[A-Za-z0-9]*$/;

// A deployment parameter that is missing, malformed or unknown; the message names every bad one.
export class CdkConfigError extends Error {
  override readonly name = 'CdkConfigError';
}

// Validates the deployment parameters from a context object; throws CdkConfigError naming each bad key.
// `projectRoot` is where trainingConfig is read from (to learn the model it publishes).
export function parseCdkConfig(context: Record<string, unknown>, projectRoot: string): ResolvedCdkConfig {
  const unknown = Object.keys(context).filter((k) => OUR_KEY.test(k) && !KNOWN_KEYS.has(k));
  const values = Object.fromEntries(Object.entries(context).filter(([k]) => KNOWN_KEYS.has(k)));
  const result = CdkConfigSchema.safeParse(values, { reportInput: true });
  const problems = unknown.map((k) => `${k}: unknown parameter (known: ${[...KNOWN_KEYS].join(', ')})`);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = issue.path.join('.') || '(parameters)';
      const got =
        'input' in issue && issue.input !== undefined ? ` (got ${JSON.stringify(issue.input)})` : '';
      problems.push(`${key}: ${issue.message}${got}`);
    }
  }
  if (problems.length === 0 && result.success) {
    const published = modelOfTrainingConfig(projectRoot, result.data.trainingConfig);
    if (typeof published !== 'string') problems.push(`trainingConfig: ${published.problem}`);
    else if (result.data.modelName !== undefined && result.data.modelName !== published) {
      problems.push(
        `modelName: '${result.data.modelName}' is not the model '${published}' that ${result.data.trainingConfig} ` +
          'publishes: the API would wait for a LATEST that never comes (leave modelName out to follow the config)',
      );
    } else return { ...result.data, modelName: published };
  }
  throw new CdkConfigError(`invalid deployment parameters:\n  ${problems.join('\n  ')}`);
}

// The "model" a training config publishes, or why it cannot be read.
function modelOfTrainingConfig(projectRoot: string, path: string): string | { problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(join(projectRoot, path), 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { problem: `cannot read ${path} as JSON (${code ?? (error as Error).message})` };
  }
  const model = (json as { model?: unknown } | null)?.model;
  if (typeof model !== 'string' || !MODEL_NAME.test(model)) {
    return { problem: `${path} names no "model" (1-63 lower-case letters, digits or dashes) to publish` };
  }
  return model;
}
