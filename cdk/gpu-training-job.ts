import { type Duration, Size, Stack, Validations } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

// The training image and what one job gets: a GPU, its vCPUs and memory, its config and output location.
export interface GpuTrainingJobProps {
  readonly vpc: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
  readonly image: ecs.ContainerImage;
  readonly instanceTypes: readonly string[];
  readonly maxVcpus: number;
  readonly spot: boolean;
  readonly vcpus: number;
  readonly memoryMb: number;
  readonly timeout: Duration;
  // Defaults of the job definition's parameters; `aws batch submit-job --parameters` overrides them.
  readonly configPath: string;
  readonly outputUri: string;
  // Where the CLI mirrors its checkpoints (--mirror), so that a retried job resumes instead of starting over.
  readonly checkpointUri: string;
  readonly backend: string;
  readonly jobRole: iam.IRole;
  readonly logRetention: logs.RetentionDays;
}

// The image's ENTRYPOINT is `npm run train --`: the job adds these arguments, so a container runs
// `npm run train -- --config <config> --out <out> --mirror <checkpoints> --backend <backend>`, Batch substituting
// the Ref:: parameters.
export const TRAINING_COMMAND = [
  '--config',
  'Ref::config',
  '--out',
  'Ref::out',
  '--mirror',
  'Ref::checkpoints',
  '--backend',
  'Ref::backend',
];

// AWS Batch on NVIDIA GPU instances (AL2023 NVIDIA AMI, scaled from zero): a compute environment, a job
// queue and a job definition that runs the training image with one GPU.
export class GpuTrainingJob extends Construct {
  readonly computeEnvironment: batch.ManagedEc2EcsComputeEnvironment;
  readonly jobQueue: batch.JobQueue;
  readonly jobDefinition: batch.EcsJobDefinition;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: GpuTrainingJobProps) {
    super(scope, id);
    this.computeEnvironment = new batch.ManagedEc2EcsComputeEnvironment(this, 'ComputeEnvironment', {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      instanceTypes: props.instanceTypes.map((t) => new ec2.InstanceType(t)),
      useOptimalInstanceClasses: false,
      images: [{ imageType: batch.EcsMachineImageType.ECS_AL2023_NVIDIA }],
      minvCpus: 0,
      maxvCpus: props.maxVcpus,
      spot: props.spot,
    });
    Validations.of(this.computeEnvironment).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]',
      reason:
        'the instance role of the Batch GPU hosts: the ECS agent needs this AWS-maintained policy to register ' +
        'with the cluster, pull the image and ship logs; the job itself runs with its own scoped job role',
    });
    this.jobQueue = new batch.JobQueue(this, 'Queue', {
      computeEnvironments: [{ computeEnvironment: this.computeEnvironment, order: 1 }],
    });
    this.logGroup = new logs.LogGroup(this, 'LogGroup', { retention: props.logRetention });

    const container = new batch.EcsEc2ContainerDefinition(this, 'Container', {
      image: props.image,
      gpu: 1,
      cpu: props.vcpus,
      memory: Size.mebibytes(props.memoryMb),
      command: TRAINING_COMMAND,
      jobRole: props.jobRole,
      environment: { AWS_REGION: Stack.of(this).region },
      // An init process forwards SIGTERM (spot reclaim, timeout) through npm to the trainer.
      linuxParameters: new batch.LinuxParameters(this, 'LinuxParameters', { initProcessEnabled: true }),
      logging: ecs.LogDriver.awsLogs({ logGroup: this.logGroup, streamPrefix: 'train' }),
    });
    Validations.of(container.executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken supports no resource-level scoping; image pulls are scoped to the asset repository',
    });
    this.jobDefinition = new batch.EcsJobDefinition(this, 'JobDefinition', {
      container,
      parameters: {
        config: props.configPath,
        out: props.outputUri,
        checkpoints: props.checkpointUri,
        backend: props.backend,
      },
      timeout: props.timeout,
      // A reclaimed spot host or a failed image pull is retried, and the retry resumes from the checkpoints the
      // CLI mirrored to S3 (the SIGTERM of a reclaim makes it save and upload one more); a run that fails by
      // itself is not retried.
      retryAttempts: 3,
      retryStrategies: [
        batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.SPOT_INSTANCE_RECLAIMED),
        batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.CANNOT_PULL_CONTAINER),
        batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.NON_ZERO_EXIT_CODE),
      ],
    });
  }
}
