import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { CdkConfigError, parseCdkConfig } from '../../cdk/config.ts';
import { synthApp } from './synth-app.ts';

// A project root whose training/configs hold small configs (default.json publishes 'fixture-model').
const ROOT = resolve(import.meta.dirname, 'fixtures/project');
const parse = (context: Record<string, unknown>) => parseCdkConfig(context, ROOT);

describe('parseCdkConfig', () => {
  it('gives every parameter a default', () => {
    const c = parse({});
    assert.equal(c.stage, 'dev');
    assert.equal(c.modelPrefix, 'supernet');
    assert.equal(c.trainingConfig, 'training/configs/default.json');
    assert.equal(c.modelName, 'fixture-model', 'the model the training config publishes');
    assert.equal(c.trainingBackend, 'node-gpu');
    assert.equal(c.servingMemoryMb, 2048);
    assert.equal(c.servingProvisionedConcurrency, 0);
    assert.equal(c.servingReservedConcurrency, undefined);
    assert.deepEqual(c.trainingInstanceTypes, ['g4dn.xlarge', 'g5.xlarge']);
    assert.equal(c.trainingSpot, false);
    assert.equal(c.account, undefined);
  });

  it('reads command-line strings (-c key=value) as numbers, booleans, lists and JSON', () => {
    const c = parse({
      servingMemoryMb: '4096',
      servingReservedConcurrency: '20',
      servingProvisionedConcurrency: '2',
      trainingSpot: 'true',
      trainingInstanceTypes: 'g5.2xlarge, g4dn.xlarge',
      servingEnvironment: '{"DEFAULT_BUDGET_MODE":"strict"}',
      account: 123456789012,
      region: 'eu-west-1',
    });
    assert.equal(c.servingMemoryMb, 4096);
    assert.equal(c.servingReservedConcurrency, 20);
    assert.equal(c.servingProvisionedConcurrency, 2);
    assert.equal(c.trainingSpot, true);
    assert.deepEqual(c.trainingInstanceTypes, ['g5.2xlarge', 'g4dn.xlarge']);
    assert.deepEqual(c.servingEnvironment, { DEFAULT_BUDGET_MODE: 'strict' });
    assert.equal(c.account, '123456789012');
  });

  it('ignores context that is not a parameter (feature flags, CDK internals, lookup caches)', () => {
    const c = parse({
      '@aws-cdk/aws-iam:minimizePolicies': true,
      'aws:cdk:bundling-stacks': [],
      'vpc-provider:account=1:filter.vpc-id=vpc-1:region=x': {},
    });
    assert.equal(c.stage, 'dev');
  });

  // Each bad parameter must fail with a message that names it (and, where useful, what was given).
  const BAD: [string, Record<string, unknown>, RegExp][] = [
    [
      'memory too large',
      { servingMemoryMb: 100000 },
      /servingMemoryMb: must be at most 10240 MB \(got 100000\)/,
    ],
    ['memory not a number', { servingMemoryMb: 'lots' }, /servingMemoryMb: must be a whole number/],
    ['memory fractional', { servingMemoryMb: 1024.5 }, /servingMemoryMb: must be a whole number/],
    [
      'negative reserved concurrency',
      { servingReservedConcurrency: -5 },
      /servingReservedConcurrency: must be at least 1/,
    ],
    [
      'negative provisioned concurrency',
      { servingProvisionedConcurrency: '-1' },
      /servingProvisionedConcurrency: must be at least 0/,
    ],
    [
      'provisioned above reserved',
      { servingReservedConcurrency: 2, servingProvisionedConcurrency: 3 },
      /servingProvisionedConcurrency: must not exceed servingReservedConcurrency \(2\)/,
    ],
    ['timeout over Lambda max', { servingTimeoutSeconds: 901 }, /servingTimeoutSeconds: must be at most 900/],
    ['config path not a string', { trainingConfig: 42 }, /trainingConfig: must be a string.*\(got 42\)/],
    [
      'config path with a parent step',
      { trainingConfig: 'training/../etc/passwd' },
      /trainingConfig: must not contain '\.\.'/,
    ],
    [
      'config path outside training/',
      { trainingConfig: 'configs/x.json' },
      /trainingConfig: must be a path under training\//,
    ],
    [
      'config file missing',
      { trainingConfig: 'training/configs/none.json' },
      /trainingConfig: cannot read training\/configs\/none\.json as JSON \(ENOENT\)/,
    ],
    [
      'config file not JSON',
      { trainingConfig: 'training/configs/broken.json' },
      /trainingConfig: cannot read .*broken\.json as JSON/,
    ],
    [
      'config naming no model',
      { trainingConfig: 'training/configs/no-model.json' },
      /trainingConfig: training\/configs\/no-model\.json names no "model"/,
    ],
    [
      'a model the config does not publish',
      { modelName: 'other-model' },
      /modelName: 'other-model' is not the model 'fixture-model' that training\/configs\/default\.json publishes/,
    ],
    [
      'a served model that is no model name',
      { servedModels: 'topics,Bad_Name' },
      /servedModels\.1: must be model names/,
    ],
    [
      "'*' among model names",
      { servedModels: '*,topics' },
      /servedModels: must be '\*' alone or a list of model names/,
    ],
    [
      'MODELS in servingEnvironment',
      { servingEnvironment: '{"MODELS":"a"}' },
      /servingEnvironment: must not set SUPERNET_URI, MODELS/,
    ],
    [
      'an unknown backend',
      { trainingBackend: 'gpu' },
      /trainingBackend: must be node-gpu, auto, node, wasm or cpu/,
    ],
    [
      'output given as a URI',
      { modelPrefix: 's3://other-bucket/x' },
      /modelPrefix: must be a key prefix inside the model bucket/,
    ],
    [
      'output with a leading slash',
      { modelPrefix: '/supernet' },
      /modelPrefix: must be at most 200 characters of lower-case words/,
    ],
    [
      'CPU instance type',
      { trainingInstanceTypes: 'm5.large' },
      /trainingInstanceTypes: must be NVIDIA GPU instance types/,
    ],
    ['spot not a boolean', { trainingSpot: 'maybe' }, /trainingSpot: must be true or false/],
    ['log retention not allowed', { servingLogRetentionDays: 31 }, /servingLogRetentionDays: must be one of/],
    [
      'reserved env variable',
      { servingEnvironment: { SUPERNET_URI: 'x' } },
      /servingEnvironment: must not set SUPERNET_URI/,
    ],
    ['env not JSON', { servingEnvironment: '{nope' }, /servingEnvironment: must be an object/],
    ['account without region', { account: '123456789012' }, /region: account and region go together/],
    [
      'VPC lookup without account',
      { vpcId: 'vpc-0123456789abcdef0' },
      /vpcId: a VPC lookup needs a fixed account/,
    ],
    ['a misspelt parameter', { servingMemory: 4096 }, /servingMemory: unknown parameter/],
    [
      'alarm above timeout',
      { servingTimeoutSeconds: 1, servingP99AlarmMs: 5000 },
      /servingP99AlarmMs: must not exceed the function timeout/,
    ],
  ];
  for (const [what, context, message] of BAD) {
    it(`rejects ${what}`, () => {
      assert.throws(
        () => parse(context),
        (e: unknown) => e instanceof CdkConfigError && message.test(e.message),
      );
    });
  }

  it('reports every bad parameter at once', () => {
    assert.throws(
      () => parse({ servingMemoryMb: 1, trainingConfig: false }),
      (e: unknown) =>
        e instanceof Error && /servingMemoryMb/.test(e.message) && /trainingConfig/.test(e.message),
    );
  });
});

describe('synth with a bad parameter', () => {
  it('fails before any stack is built, naming the parameter', () => {
    assert.throws(
      () => synthApp({ servingMemoryMb: 100000, trainingMaxVcpus: -1 }),
      (e: unknown) =>
        e instanceof CdkConfigError &&
        /servingMemoryMb/.test(e.message) &&
        /trainingMaxVcpus/.test(e.message),
    );
  });
});
