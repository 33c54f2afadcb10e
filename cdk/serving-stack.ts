import { CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { grantPrefixAccess } from './grant-prefix-access.ts';
import { importModelBucket, type ModelBucketRef, prefixWildcardFinding } from './model-bucket-ref.ts';
import { ServingAlarms } from './serving-alarms.ts';
import { ServingFunction } from './serving-function.ts';

// Where the supernet is and how the function is sized.
export interface ServingStackProps extends StackProps {
  readonly modelBucket: ModelBucketRef;
  // What SUPERNET_URI names in the bucket: one model root (<modelPrefix>/models/<modelName>, it holds LATEST) or
  // the repository root (<modelPrefix>/models).
  readonly supernetPrefix: string;
  // The key prefixes the function may read: the model roots it serves (or the repository root, for all).
  readonly readPrefixes: readonly string[];
  // The models of the repository root to serve (MODELS); undefined: all it holds (or the one model root).
  readonly models?: readonly string[];
  readonly entry: string;
  readonly projectRoot: string;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  readonly ephemeralStorageMb: number;
  readonly reservedConcurrency?: number;
  readonly provisionedConcurrency: number;
  readonly logRetention: logs.RetentionDays;
  readonly p99AlarmMs: number;
  readonly alarmTopicArn?: string;
  // More environment (budget defaults and the serving config's other variables).
  readonly environment: Record<string, string>;
}

// The API on Lambda behind an IAM-authenticated Function URL, reading only its models' prefixes, with alarms.
export class ServingStack extends Stack {
  readonly serving: ServingFunction;
  readonly functionUrl: lambda.FunctionUrl;
  readonly alarms: ServingAlarms;

  constructor(scope: Construct, id: string, props: ServingStackProps) {
    super(scope, id, props);
    const bucket = importModelBucket(this, 'ModelBucket', props.modelBucket);
    const supernetUri = `s3://${bucket.bucketName}/${props.supernetPrefix}`;
    this.serving = new ServingFunction(this, 'Api', {
      entry: props.entry,
      projectRoot: props.projectRoot,
      memoryMb: props.memoryMb,
      timeout: Duration.seconds(props.timeoutSeconds),
      ephemeralStorageMb: props.ephemeralStorageMb,
      reservedConcurrency: props.reservedConcurrency,
      provisionedConcurrency: props.provisionedConcurrency,
      logRetention: props.logRetention,
      environment: {
        ...props.environment,
        SUPERNET_URI: supernetUri,
        ...(props.models ? { MODELS: props.models.join(',') } : {}),
      },
    });
    for (const prefix of props.readPrefixes) {
      grantPrefixAccess(this.serving.role, bucket, prefix, 'read');
      Validations.of(this.serving.role).acknowledge({
        id: prefixWildcardFinding(props.modelBucket, prefix),
        reason:
          prefix === props.supernetPrefix && props.models === undefined && props.readPrefixes.length === 1
            ? `s3:GetObject on the models it serves (${prefix}/*: LATEST and versions) only`
            : `s3:GetObject on the objects of one served model (${prefix}/*: LATEST and its versions) only`,
      });
    }

    this.functionUrl = this.serving.alias.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    this.alarms = new ServingAlarms(this, 'Alarms', {
      function: this.serving.function,
      p99LatencyMs: props.p99AlarmMs,
      alarmTopicArn: props.alarmTopicArn,
    });

    new CfnOutput(this, 'FunctionUrl', { value: this.functionUrl.url });
    new CfnOutput(this, 'SupernetUri', { value: supernetUri });
    if (props.models) new CfnOutput(this, 'Models', { value: props.models.join(',') });
    new CfnOutput(this, 'FunctionName', { value: this.serving.function.functionName });
  }
}
