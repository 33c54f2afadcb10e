import { CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { GpuTrainingJob } from './gpu-training-job.ts';
import { grantPrefixAccess } from './grant-prefix-access.ts';
import { importModelBucket, type ModelBucketRef, prefixWildcardFinding } from './model-bucket-ref.ts';

// The bucket and prefix the job writes, the image to build, and the GPU fleet's size.
export interface TrainingStackProps extends StackProps {
  readonly modelBucket: ModelBucketRef;
  readonly modelPrefix: string;
  readonly projectRoot: string;
  // Relative to projectRoot, which is the Docker build context (filtered by its .dockerignore).
  readonly dockerfile: string;
  readonly configPath: string;
  readonly backend: string;
  readonly instanceTypes: readonly string[];
  readonly maxVcpus: number;
  readonly spot: boolean;
  readonly vcpus: number;
  readonly memoryMb: number;
  readonly timeoutHours: number;
  readonly logRetention: logs.RetentionDays;
  // An existing VPC to look up (needs an account and region); by default a new one with flow logs.
  readonly vpcId?: string;
}

// The offline training job on AWS Batch GPU instances, allowed to write only its prefix of the bucket.
export class TrainingStack extends Stack {
  readonly job: GpuTrainingJob;
  readonly jobRole: iam.Role;
  readonly vpc: ec2.IVpc;

  constructor(scope: Construct, id: string, props: TrainingStackProps) {
    super(scope, id, props);
    this.vpc =
      props.vpcId !== undefined
        ? ec2.Vpc.fromLookup(this, 'Vpc', { vpcId: props.vpcId })
        : this.newVpc(props);
    this.jobRole = new iam.Role(this, 'JobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Training job: reads and writes its own prefix of the model bucket, nothing else',
    });
    const bucket = importModelBucket(this, 'ModelBucket', props.modelBucket);
    grantPrefixAccess(this.jobRole, bucket, props.modelPrefix, 'read-write');
    Validations.of(this.jobRole).acknowledge({
      id: prefixWildcardFinding(props.modelBucket, props.modelPrefix),
      reason: `object read/write/delete under the job's own prefix (${props.modelPrefix}/*) only: checkpoints, published supernets`,
    });

    // The CLI publishes to <out>/<model>/<version>/ and <out>/<model>/LATEST, where the API looks.
    const outputUri = `s3://${bucket.bucketName}/${props.modelPrefix}/models`;
    this.job = new GpuTrainingJob(this, 'Training', {
      vpc: this.vpc,
      // A new VPC has public subnets only (no NAT gateway to pay for): hosts reach ECR and S3 directly.
      vpcSubnets: props.vpcId === undefined ? { subnetType: ec2.SubnetType.PUBLIC } : undefined,
      image: ecs.ContainerImage.fromAsset(props.projectRoot, {
        file: props.dockerfile,
        platform: Platform.LINUX_AMD64,
      }),
      instanceTypes: props.instanceTypes,
      maxVcpus: props.maxVcpus,
      spot: props.spot,
      vcpus: props.vcpus,
      memoryMb: props.memoryMb,
      timeout: Duration.hours(props.timeoutHours),
      configPath: props.configPath,
      outputUri,
      checkpointUri: `s3://${bucket.bucketName}/${props.modelPrefix}/checkpoints`,
      backend: props.backend,
      jobRole: this.jobRole,
      logRetention: props.logRetention,
    });

    new CfnOutput(this, 'JobQueueArn', { value: this.job.jobQueue.jobQueueArn });
    new CfnOutput(this, 'JobDefinitionArn', { value: this.job.jobDefinition.jobDefinitionArn });
    new CfnOutput(this, 'TrainingOutput', { value: outputUri });
  }

  private newVpc(props: TrainingStackProps): ec2.Vpc {
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogGroup', { retention: props.logRetention });
    return new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
  }
}
