import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { DEFAULT_MODEL, synthApp } from './synth-app.ts';

// Every acknowledgement in the tree: rule id, reason and where.
function acknowledgements(root: IConstruct): { id: string; reason: string; path: string }[] {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({
          id: id.replace(/^annotation::/i, ''),
          reason,
          path: c.node.path,
        })),
      ),
  );
}

describe('the app under cdk-nag (AwsSolutions)', () => {
  const app = synthApp({}, { nag: true });
  after(() => app.dispose());

  it('has no unacknowledged finding, error or warning', () => {
    const report = new AwsSolutionsChecks(app.app).validateScope(app.app);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    assert.deepEqual(findings, []);
    assert.equal(report.success, true);
  });

  it('synthesizes with the nag plugin registered (it would interrupt synth on a finding)', () => {
    const assembly = app.app.synth();
    assert.deepEqual(assembly.stacks.map((s) => s.stackName).sort(), [
      'Supernet-dev-Serving',
      'Supernet-dev-Storage',
      'Supernet-dev-Training',
    ]);
  });

  it('leaves no error or warning annotation on any stack', () => {
    for (const stack of [app.storage, app.serving, app.training]) {
      const annotations = Annotations.fromStack(stack);
      assert.deepEqual(annotations.findError('*', Match.anyValue()), [], stack.stackName);
      assert.deepEqual(annotations.findWarning('*', Match.anyValue()), [], stack.stackName);
    }
  });

  it('acknowledges only the reviewed findings, each with a specific reason', () => {
    // aws-cdk-lib acknowledges some CloudFormation-Validate rules on its own constructs; ours are cdk-nag's.
    const acks = acknowledgements(app.app).filter((a) => a.id.startsWith('AwsSolutions-'));
    assert.deepEqual(acks.map((a) => `${a.path} ${a.id}`).sort(), [
      'Supernet-dev-Serving/Api/Role AwsSolutions-IAM5[Resource::*]',
      `Supernet-dev-Serving/Api/Role AwsSolutions-IAM5[Resource::Supernet-dev-Storage-ModelBucketArn/supernet/models/${DEFAULT_MODEL}/*]`,
      'Supernet-dev-Training/JobRole AwsSolutions-IAM5[Resource::Supernet-dev-Storage-ModelBucketArn/supernet/*]',
      'Supernet-dev-Training/Training/ComputeEnvironment AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]',
      'Supernet-dev-Training/Training/Container/ExecutionRole AwsSolutions-IAM5[Resource::*]',
    ]);
    for (const a of acks)
      assert.ok(a.reason.length >= 60, `${a.id} at ${a.path}: reason too thin: ${a.reason}`);
  });

  it('is not blind: an unlogged bucket without TLS enforcement is reported', () => {
    const probe = new App();
    new s3.Bucket(new Stack(probe, 'Probe'), 'Bare');
    const rules = new AwsSolutionsChecks(probe).validateScope(probe).violations.map((v) => v.ruleName);
    assert.ok(rules.includes('AwsSolutions-S1'), rules.join(', '));
    assert.ok(rules.includes('AwsSolutions-S10'), rules.join(', '));
  });
});
