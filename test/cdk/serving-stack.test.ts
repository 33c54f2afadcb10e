import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { PROJECT_ROOT, SERVING_ENTRY } from '../../cdk/build-app.ts';
import { copyRuntimeFilesCommands, SERVING_RUNTIME_FILES } from '../../cdk/serving-function.ts';
import { actionsOf, DEFAULT_MODEL, flatten, policyStatements, synthApp } from './synth-app.ts';

describe('ServingStack', () => {
  const app = synthApp({
    servingMemoryMb: '3008',
    servingTimeoutSeconds: 20,
    servingReservedConcurrency: 10,
    servingProvisionedConcurrency: 2,
    servingP99AlarmMs: 800,
    defaultLatencyBudgetMs: 250,
    servingEnvironment: { DEFAULT_BUDGET_MODE: 'best-effort' },
  });
  after(() => app.dispose());
  const template = app.template(app.serving);
  const functionId = app.serving.getLogicalId(app.serving.serving.function.node.defaultChild as never);

  it('runs the API on nodejs24.x, arm64, traced, sized by the parameters', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 3008,
      Timeout: 20,
      ReservedConcurrentExecutions: 10,
      TracingConfig: { Mode: 'Active' },
      EphemeralStorage: { Size: 1024 },
    });
  });

  it('points SUPERNET_URI at the model prefix of the imported bucket, and passes the budget defaults', () => {
    const fn = template.findResources('AWS::Lambda::Function')[functionId] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };
    const env = fn.Properties.Environment.Variables;
    assert.equal(
      flatten(env.SUPERNET_URI),
      `s3://import(Supernet-dev-Storage-ModelBucketName)/supernet/models/${DEFAULT_MODEL}`,
    );
    assert.equal(env.DEFAULT_LATENCY_BUDGET_MS, '250');
    assert.equal(env.DEFAULT_BUDGET_MODE, 'best-effort');
    assert.equal(env.ENGINE_CACHE_MB, '1504', 'half of the 3008 MB function');
    assert.equal(env.NODE_OPTIONS, '--enable-source-maps');
    assert.equal(env.PAGE, 'off', 'the page is off on Lambda');
  });

  it('follows modelPrefix', () => {
    const other = synthApp({ modelPrefix: 'team-a/supernets' });
    after(() => other.dispose());
    const t = other.template(other.serving);
    const fn = Object.values(t.findResources('AWS::Lambda::Function'))[0] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };
    assert.match(
      flatten(fn.Properties.Environment.Variables.SUPERNET_URI),
      new RegExp(`/team-a/supernets/models/${DEFAULT_MODEL}$`),
    );
    const objectResources = policyStatements(t)
      .filter((s) => actionsOf(s).includes('s3:GetObject'))
      .map((s) => flatten(s.Resource));
    assert.deepEqual(objectResources, [
      `import(Supernet-dev-Storage-ModelBucketArn)/team-a/supernets/models/${DEFAULT_MODEL}/*`,
    ]);
  });

  it('serves a list of models from the repository root, reading exactly their prefixes', () => {
    const other = synthApp({ servedModels: 'topics,imdb-sentiment' });
    after(() => other.dispose());
    const t = other.template(other.serving);
    const fn = Object.values(t.findResources('AWS::Lambda::Function'))[0] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };
    const env = fn.Properties.Environment.Variables;
    assert.match(flatten(env.SUPERNET_URI), /\/supernet\/models$/);
    assert.equal(env.MODELS, 'topics,imdb-sentiment');
    const statements = policyStatements(t);
    assert.deepEqual(
      statements
        .filter((s) => actionsOf(s).includes('s3:GetObject'))
        .flatMap((s) => [s.Resource].flat().map(flatten))
        .sort(),
      [
        'import(Supernet-dev-Storage-ModelBucketArn)/supernet/models/imdb-sentiment/*',
        'import(Supernet-dev-Storage-ModelBucketArn)/supernet/models/topics/*',
      ],
    );
    assert.deepEqual(
      statements
        .filter((s) => actionsOf(s).includes('s3:ListBucket'))
        .flatMap(
          (s) =>
            (s.Condition as { StringLikeIfExists: { 's3:prefix': string[] } }).StringLikeIfExists[
              's3:prefix'
            ],
        )
        .sort(),
      ['supernet/models/imdb-sentiment/*', 'supernet/models/topics/*'],
    );

    const all = synthApp({ servedModels: '*' });
    after(() => all.dispose());
    const allEnv = (
      Object.values(all.template(all.serving).findResources('AWS::Lambda::Function'))[0] as {
        Properties: { Environment: { Variables: Record<string, unknown> } };
      }
    ).Properties.Environment.Variables;
    assert.equal(allEnv.MODELS, undefined);
    assert.deepEqual(
      policyStatements(all.template(all.serving))
        .filter((s) => actionsOf(s).includes('s3:GetObject'))
        .map((s) => flatten(s.Resource)),
      ['import(Supernet-dev-Storage-ModelBucketArn)/supernet/models/*'],
    );
  });

  it('serves through a Function URL with AWS_IAM auth on the live alias, which holds the provisioned concurrency', () => {
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM', Qualifier: 'live' });
    template.hasResourceProperties('AWS::Lambda::Alias', {
      Name: 'live',
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 2 },
    });
    assert.equal(Object.keys(template.findResources('AWS::Lambda::Url')).length, 1);
  });

  it('may read only the objects of its model: no s3:*, no bucket-wide object access, listing scoped by s3:prefix', () => {
    const s3Statements = policyStatements(template).filter((s) =>
      actionsOf(s).some((a) => a.startsWith('s3:')),
    );
    assert.ok(s3Statements.length > 0);
    for (const s of s3Statements) {
      assert.equal(s.Effect, 'Allow');
      assert.ok(!actionsOf(s).some((a) => a.includes('*')), `wildcard action in ${actionsOf(s)}`);
      const resource = flatten(s.Resource);
      if (actionsOf(s).includes('s3:ListBucket')) {
        assert.deepEqual(actionsOf(s), ['s3:ListBucket']);
        assert.equal(resource, 'import(Supernet-dev-Storage-ModelBucketArn)');
        assert.deepEqual(s.Condition, {
          StringLikeIfExists: { 's3:prefix': [`supernet/models/${DEFAULT_MODEL}/*`] },
        });
      } else {
        assert.deepEqual(actionsOf(s), ['s3:GetObject']);
        assert.equal(
          resource,
          `import(Supernet-dev-Storage-ModelBucketArn)/supernet/models/${DEFAULT_MODEL}/*`,
        );
      }
    }
    // Nothing else in the role's policy touches a resource '*' except X-Ray (which has no resource scoping).
    for (const s of policyStatements(template).filter((st) => flatten(st.Resource) === '*')) {
      assert.deepEqual(actionsOf(s).sort(), ['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    }
  });

  it('has a role without managed policies and a log group with a retention', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })],
      }),
      ManagedPolicyArns: Match.absent(),
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('alarms on p99 Duration, Errors and Throttles of the function', () => {
    const dimensions = [{ Name: 'FunctionName', Value: { Ref: functionId } }];
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Duration',
      ExtendedStatistic: 'p99',
      Threshold: 800,
      ComparisonOperator: 'GreaterThanThreshold',
      Dimensions: dimensions,
    });
    for (const metric of ['Errors', 'Throttles']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: metric,
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Dimensions: dimensions,
      });
    }
  });

  it('sends alarms to a topic when one is given', () => {
    const topicArn = 'arn:aws:sns:eu-west-1:123456789012:supernet-alarms';
    const withTopic = synthApp({ alarmTopicArn: topicArn });
    after(() => withTopic.dispose());
    const alarms = Object.values(
      withTopic.template(withTopic.serving).findResources('AWS::CloudWatch::Alarm'),
    );
    assert.equal(alarms.length, 3);
    for (const alarm of alarms)
      assert.deepEqual((alarm as { Properties: { AlarmActions: string[] } }).Properties.AlarmActions, [
        topicArn,
      ]);
  });
});

describe('the serving bundle', () => {
  it('takes its handler from serving/lambda.ts', () => {
    assert.equal(relative(PROJECT_ROOT, SERVING_ENTRY), join('serving', 'lambda.ts'));
  });

  it('copies only the linux-arm64 onnxruntime binary, the wasm files and the vocabulary, all of which exist', () => {
    for (const [from] of SERVING_RUNTIME_FILES)
      assert.ok(existsSync(join(PROJECT_ROOT, from)), `${from} is missing`);
    const commands = copyRuntimeFilesCommands('/in', '/out').join('\n');
    assert.match(commands, /onnxruntime-node\/bin\/napi-v6\/linux\/arm64'/);
    assert.doesNotMatch(commands, /x64|darwin|win32/);
    for (const wasm of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm']) {
      assert.ok(
        commands.includes(`/in/node_modules/@tensorflow/tfjs-backend-wasm/dist/${wasm}' '/out/./'`),
        wasm,
      );
    }
  });
});
