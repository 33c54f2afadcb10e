import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { synthApp } from './synth-app.ts';

describe('StorageStack', () => {
  const dev = synthApp();
  after(() => dev.dispose());
  const template = dev.template(dev.storage);
  const buckets = template.findResources('AWS::S3::Bucket');
  const modelBucketId = dev.storage.getLogicalId(dev.storage.modelBucket.node.defaultChild as never);
  const logBucketId = dev.storage.getLogicalId(dev.storage.accessLogBucket.node.defaultChild as never);

  it('encrypts, blocks public access on and names neither bucket (CloudFormation generates the names)', () => {
    assert.equal(Object.keys(buckets).length, 2);
    for (const [id, bucket] of Object.entries(buckets)) {
      const p = (bucket as { Properties: Record<string, unknown> }).Properties;
      assert.equal(p.BucketName, undefined, `${id} has a hard-coded name`);
      assert.deepEqual(p.BucketEncryption, {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      assert.deepEqual(p.PublicAccessBlockConfiguration, {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
    }
  });

  it('versions the model bucket, logs its access to the log bucket, expires old versions and aborted uploads', () => {
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: { DestinationBucketName: { Ref: logBucketId }, LogFilePrefix: 'model-bucket/' },
        LifecycleConfiguration: {
          Rules: [
            Match.objectLike({
              Status: 'Enabled',
              NoncurrentVersionExpiration: { NoncurrentDays: 30 },
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
            }),
          ],
        },
      }),
      DeletionPolicy: 'Retain',
    });
    assert.ok(buckets[modelBucketId], 'the model bucket is in the template');
  });

  it('denies every request without TLS to both buckets', () => {
    const policies = template.findResources('AWS::S3::BucketPolicy');
    const guarded = Object.values(policies)
      .filter((p) =>
        (
          p as { Properties: { PolicyDocument: { Statement: unknown[] } } }
        ).Properties.PolicyDocument.Statement.some((s) => {
          const st = s as { Effect: string; Action: string; Condition?: { Bool?: Record<string, string> } };
          return (
            st.Effect === 'Deny' &&
            st.Action === 's3:*' &&
            st.Condition?.Bool?.['aws:SecureTransport'] === 'false'
          );
        }),
      )
      .map((p) => (p as { Properties: { Bucket: { Ref: string } } }).Properties.Bucket.Ref)
      .sort();
    assert.deepEqual(guarded, [logBucketId, modelBucketId].sort());
  });

  it('exports the bucket under names that carry the stage, so two stages never collide', () => {
    const prod = synthApp({ stage: 'prod' });
    after(() => prod.dispose());
    const exportsOf = (t: ReturnType<typeof prod.template>) =>
      Object.values(t.findOutputs('*')).map((o) => (o as { Export: { Name: string } }).Export.Name);
    assert.deepEqual(exportsOf(template).sort(), [
      'Supernet-dev-Storage-ModelBucketArn',
      'Supernet-dev-Storage-ModelBucketName',
    ]);
    assert.deepEqual(exportsOf(prod.template(prod.storage)).sort(), [
      'Supernet-prod-Storage-ModelBucketArn',
      'Supernet-prod-Storage-ModelBucketName',
    ]);
    assert.notEqual(prod.storage.stackName, dev.storage.stackName);
  });
});
