import { resolve } from 'node:path';
import { App, type Environment, Tags, Validations } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseCdkConfig, type ResolvedCdkConfig } from './config.ts';
import { ServingStack } from './serving-stack.ts';
import { StorageStack } from './storage-stack.ts';
import { TrainingStack } from './training-stack.ts';

// The repository root: the Lambda's esbuild project root and the training image's Docker build context.
export const PROJECT_ROOT = resolve(import.meta.dirname, '..');
// The runtime entry points, referenced by path only (cdk imports no runtime code).
export const SERVING_ENTRY = resolve(PROJECT_ROOT, 'serving/lambda.ts');
export const TRAINING_DOCKERFILE = 'training/Dockerfile';

// Feature flags this app is written against (cdk.json or -c can still override them).
const FEATURE_FLAGS = {
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
  '@aws-cdk/aws-iam:minimizePolicies': true,
  '@aws-cdk/aws-lambda:recognizeVersionProps': true,
  '@aws-cdk/aws-batch:defaultToAL2023': true,
  '@aws-cdk/core:stackRelativeExports': true,
};

// Test hooks: extra context (parameters, bundling-stacks), another serving entry, no cdk-nag.
export interface BuildAppOptions {
  readonly context?: Record<string, unknown>;
  readonly servingEntry?: string;
  readonly nag?: boolean;
  readonly outdir?: string;
}

// The app and its three stacks, as built from the validated parameters.
export interface SupernetApp {
  readonly app: App;
  readonly config: ResolvedCdkConfig;
  readonly storage: StorageStack;
  readonly serving: ServingStack;
  readonly training: TrainingStack;
}

// Builds the CDK app: parameters from context (validated), storage, serving and training stacks, cdk-nag.
export function buildApp(options: BuildAppOptions = {}): SupernetApp {
  const app = new App({ context: { ...FEATURE_FLAGS, ...options.context }, outdir: options.outdir });
  const config = parseCdkConfig(app.node.getAllContext(), PROJECT_ROOT);
  const env: Environment | undefined =
    config.account !== undefined ? { account: config.account, region: config.region } : undefined;
  const stackId = (part: string) => `Supernet-${config.stage}-${part}`;

  const storage = new StorageStack(app, stackId('Storage'), {
    env,
    description: `Elastic supernet (${config.stage}): model bucket and its access logs`,
  });
  const serving = new ServingStack(app, stackId('Serving'), {
    env,
    description: `Elastic supernet (${config.stage}): API on Lambda behind an IAM Function URL`,
    modelBucket: storage.modelBucketRef,
    ...servedPrefixes(`${config.modelPrefix}/models`, config.modelName, config.servedModels),
    entry: options.servingEntry ?? SERVING_ENTRY,
    projectRoot: PROJECT_ROOT,
    memoryMb: config.servingMemoryMb,
    timeoutSeconds: config.servingTimeoutSeconds,
    ephemeralStorageMb: config.servingEphemeralStorageMb,
    reservedConcurrency: config.servingReservedConcurrency,
    provisionedConcurrency: config.servingProvisionedConcurrency,
    logRetention: config.servingLogRetentionDays as logs.RetentionDays,
    p99AlarmMs: config.servingP99AlarmMs,
    alarmTopicArn: config.alarmTopicArn,
    environment: {
      // serving/config.ts sizes its subnet cache at 4096 MB by default: keep it within the function's memory.
      ENGINE_CACHE_MB: String(Math.floor(config.servingMemoryMb / 2)),
      // The API only; the page (GET /) is for a server a person opens, and the bundle carries no page sources.
      PAGE: 'off',
      ...config.servingEnvironment,
      ...(config.defaultLatencyBudgetMs !== undefined
        ? { DEFAULT_LATENCY_BUDGET_MS: String(config.defaultLatencyBudgetMs) }
        : {}),
    },
  });
  const training = new TrainingStack(app, stackId('Training'), {
    env,
    description: `Elastic supernet (${config.stage}): supernet training on AWS Batch GPU instances`,
    modelBucket: storage.modelBucketRef,
    modelPrefix: config.modelPrefix,
    projectRoot: PROJECT_ROOT,
    dockerfile: TRAINING_DOCKERFILE,
    configPath: config.trainingConfig,
    backend: config.trainingBackend,
    instanceTypes: config.trainingInstanceTypes,
    maxVcpus: config.trainingMaxVcpus,
    spot: config.trainingSpot,
    vcpus: config.trainingVcpus,
    memoryMb: config.trainingMemoryMb,
    timeoutHours: config.trainingTimeoutHours,
    logRetention: config.trainingLogRetentionDays as logs.RetentionDays,
    vpcId: config.vpcId,
  });

  serving.addStackDependency(storage, 'imports the model bucket');
  training.addStackDependency(storage, 'imports the model bucket');
  Tags.of(app).add('project', 'elastic-supernet');
  Tags.of(app).add('stage', config.stage);
  if (options.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, config, storage, serving, training };
}

// What the API serves: SUPERNET_URI's prefix, the prefixes it may read, and MODELS. One model by default (its model
// root); a list of models from the repository root (read access on each model's prefix only); '*' every model.
function servedPrefixes(
  root: string,
  modelName: string,
  servedModels: readonly string[] | undefined,
): { supernetPrefix: string; readPrefixes: string[]; models?: string[] } {
  if (servedModels === undefined) {
    return { supernetPrefix: `${root}/${modelName}`, readPrefixes: [`${root}/${modelName}`] };
  }
  if (servedModels[0] === '*') return { supernetPrefix: root, readPrefixes: [root] };
  const models = [...new Set(servedModels)];
  return { supernetPrefix: root, readPrefixes: models.map((m) => `${root}/${m}`), models };
}
