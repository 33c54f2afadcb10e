import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { PROJECT_ROOT, TRAINING_DOCKERFILE } from '../../cdk/build-app.ts';
import { TRAINING_COMMAND } from '../../cdk/gpu-training-job.ts';
import { actionsOf, flatten, policyStatements, synthApp } from './synth-app.ts';

describe('TrainingStack', () => {
  const app = synthApp({
    trainingConfig: 'training/configs/default.json',
    trainingInstanceTypes: 'g5.xlarge,g4dn.2xlarge',
    trainingMaxVcpus: 16,
  });
  after(() => app.dispose());
  const template = app.template(app.training);
  const jobRoleId = app.training.getLogicalId(app.training.jobRole.node.defaultChild as never);

  it('defines a job with one GPU that runs `npm run train -- --config <config> --out <s3 prefix> --mirror <s3 prefix> --backend node-gpu`', () => {
    template.hasResourceProperties('AWS::Batch::JobDefinition', {
      Type: 'container',
      ContainerProperties: Match.objectLike({
        Command: [
          '--config',
          'Ref::config',
          '--out',
          'Ref::out',
          '--mirror',
          'Ref::checkpoints',
          '--backend',
          'Ref::backend',
        ],
        JobRoleArn: { 'Fn::GetAtt': [jobRoleId, 'Arn'] },
        LinuxParameters: { InitProcessEnabled: true },
      }),
    });
    const job = Object.values(template.findResources('AWS::Batch::JobDefinition'))[0] as {
      Properties: {
        Parameters: Record<string, unknown>;
        ContainerProperties: { ResourceRequirements: { Type: string; Value: string }[] };
      };
    };
    const resources = Object.fromEntries(
      job.Properties.ContainerProperties.ResourceRequirements.map((r) => [r.Type, r.Value]),
    );
    assert.deepEqual(resources, { GPU: '1', VCPU: '4', MEMORY: '14336' });
    assert.deepEqual(Object.keys(job.Properties.Parameters).sort(), [
      'backend',
      'checkpoints',
      'config',
      'out',
    ]);
    // Checkpoints are mirrored under the job's own prefix, beside the published models.
    assert.equal(
      flatten(job.Properties.Parameters.checkpoints),
      's3://import(Supernet-dev-Storage-ModelBucketName)/supernet/checkpoints',
    );
    assert.equal(job.Properties.Parameters.config, 'training/configs/default.json');
    assert.equal(job.Properties.Parameters.backend, 'node-gpu');
    // The CLI publishes to <out>/<model>/..., the prefix SUPERNET_URI names.
    assert.equal(
      flatten(job.Properties.Parameters.out),
      's3://import(Supernet-dev-Storage-ModelBucketName)/supernet/models',
    );
  });

  it("completes the image's ENTRYPOINT `npm run train --`", () => {
    const dockerfile = readFileSync(join(PROJECT_ROOT, TRAINING_DOCKERFILE), 'utf8');
    const entrypoints = [...dockerfile.matchAll(/^ENTRYPOINT\s+(.+)$/gm)].map((m) => JSON.parse(m[1]!));
    assert.deepEqual(entrypoints.at(-1), ['npm', 'run', 'train', '--']);
    assert.deepEqual(
      [...entrypoints.at(-1), ...TRAINING_COMMAND].join(' '),
      'npm run train -- --config Ref::config --out Ref::out --mirror Ref::checkpoints --backend Ref::backend',
    );
  });

  it('runs on the GPU instance types given, from zero, with the NVIDIA AMI', () => {
    template.hasResourceProperties('AWS::Batch::ComputeEnvironment', {
      Type: 'managed',
      ComputeResources: Match.objectLike({
        Type: 'EC2',
        InstanceTypes: ['g5.xlarge', 'g4dn.2xlarge'],
        MinvCpus: 0,
        MaxvCpus: 16,
        Ec2Configuration: [{ ImageType: 'ECS_AL2023_NVIDIA' }],
      }),
    });
    template.resourceCountIs('AWS::Batch::JobQueue', 1);
  });

  it('may write, read and list only its prefix: no s3:*, no bucket-wide object access', () => {
    const statements = policyStatements(template).filter((s) => s.policy.startsWith('JobRole'));
    assert.equal(statements.length, 2);
    for (const s of statements)
      assert.ok(!actionsOf(s).some((a) => a.includes('*')), `wildcard action ${actionsOf(s)}`);
    const objects = statements.find((s) => actionsOf(s).includes('s3:PutObject'));
    assert.ok(objects);
    assert.equal(flatten(objects.Resource), 'import(Supernet-dev-Storage-ModelBucketArn)/supernet/*');
    assert.deepEqual(actionsOf(objects).sort(), [
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:GetObject',
      's3:ListMultipartUploadParts',
      's3:PutObject',
    ]);
    const list = statements.find((s) => actionsOf(s).includes('s3:ListBucket'));
    assert.ok(list);
    assert.equal(flatten(list.Resource), 'import(Supernet-dev-Storage-ModelBucketArn)');
    assert.deepEqual(list.Condition, { StringLikeIfExists: { 's3:prefix': ['supernet/*'] } });
    // No other role in the stack gets any S3 access.
    const others = policyStatements(template).filter(
      (s) => !s.policy.startsWith('JobRole') && actionsOf(s).some((a) => a.startsWith('s3:')),
    );
    assert.deepEqual(others, []);
  });

  it('builds its VPC offline (no lookup) with flow logs and public subnets only', () => {
    template.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'ALL' });
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    const subnets = Object.values(template.findResources('AWS::EC2::Subnet'));
    assert.equal(subnets.length, 2);
    for (const s of subnets)
      assert.equal(
        (s as { Properties: { MapPublicIpOnLaunch: boolean } }).Properties.MapPublicIpOnLaunch,
        true,
      );
  });

  it('builds the training image from training/Dockerfile for linux/amd64, from a context without node_modules', () => {
    const manifest = JSON.parse(
      readFileSync(join(app.outdir, `${app.training.artifactId}.assets.json`), 'utf8'),
    ) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile?: string; platform?: string } }>;
    };
    const images = Object.values(manifest.dockerImages);
    assert.equal(images.length, 1);
    const source = images[0]!.source;
    assert.equal(source.dockerFile, 'training/Dockerfile');
    assert.equal(source.platform, 'linux/amd64');
    const context = join(app.outdir, source.directory);
    for (const kept of ['package.json', 'package-lock.json', '.npmrc', 'training/Dockerfile', 'src']) {
      assert.ok(existsSync(join(context, kept)), `${kept} missing from the build context`);
    }
    for (const dropped of ['node_modules', '.git', 'cdk.out', 'models', 'test', 'serving']) {
      assert.ok(!existsSync(join(context, dropped)), `${dropped} was sent to the build context`);
    }
  });
});
