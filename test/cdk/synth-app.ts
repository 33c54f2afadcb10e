import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, PROJECT_ROOT, type SupernetApp } from '../../cdk/build-app.ts';

// CloudFormation schema validation at synth costs ~10 s per app (NOTES.md): off in unit tests.
process.env.CDK_VALIDATION = 'false';

// Stands in for serving/lambda.ts: NodejsFunction needs an entry that exists; bundling is skipped anyway.
export const STAND_IN_ENTRY = resolve(import.meta.dirname, 'fixtures/lambda-stand-in.ts');

// The model the default training config publishes, which the API serves unless told otherwise.
export const DEFAULT_MODEL: string = JSON.parse(
  readFileSync(join(PROJECT_ROOT, 'training/configs/default.json'), 'utf8'),
).model;

// A built app in its own temporary cloud-assembly folder, without Lambda bundling.
export interface TestApp extends SupernetApp {
  readonly outdir: string;
  template(stack: Stack): Template;
  dispose(): void;
}

// Builds the app from context as `cdk synth -c ...` would, skipping bundling (and cdk-nag unless asked).
export function synthApp(context: Record<string, unknown> = {}, options: { nag?: boolean } = {}): TestApp {
  const outdir = mkdtempSync(join(tmpdir(), 'supernet-cdk-test-'));
  let built: SupernetApp;
  try {
    built = buildApp({
      context: { 'aws:cdk:bundling-stacks': [], ...context },
      servingEntry: STAND_IN_ENTRY,
      outdir,
      nag: options.nag ?? false,
    });
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
  const templates = new Map<Stack, Template>();
  return {
    ...built,
    outdir,
    template(stack) {
      let t = templates.get(stack);
      if (t === undefined) {
        t = Template.fromStack(stack);
        templates.set(stack, t);
      }
      return t;
    },
    dispose() {
      rmSync(outdir, { recursive: true, force: true });
    },
  };
}

// One IAM statement as it appears in a template.
export interface PolicyStatementJson {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

// Every statement of every AWS::IAM::Policy in a template, with its policy's logical id.
export function policyStatements(template: Template): (PolicyStatementJson & { policy: string })[] {
  const policies = template.findResources('AWS::IAM::Policy') as Record<
    string,
    { Properties: { PolicyDocument: { Statement: PolicyStatementJson[] } } }
  >;
  return Object.entries(policies).flatMap(([id, p]) =>
    p.Properties.PolicyDocument.Statement.map((s) => ({ ...s, policy: id })),
  );
}

// A statement's actions as a list.
export function actionsOf(statement: PolicyStatementJson): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

// A CloudFormation value (string, Fn::Join, Fn::ImportValue...) flattened to text for assertions.
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(flatten).join(',');
  if (value !== null && typeof value === 'object') {
    const [key, inner] = Object.entries(value)[0] ?? [];
    if (key === 'Fn::Join' && Array.isArray(inner))
      return (inner[1] as unknown[]).map(flatten).join(String(inner[0]));
    if (key === 'Fn::ImportValue') return `import(${flatten(inner)})`;
    if (key === 'Ref') return `ref(${flatten(inner)})`;
    if (key === 'Fn::GetAtt' && Array.isArray(inner)) return `getatt(${inner.map(flatten).join('.')})`;
    return JSON.stringify(value);
  }
  return String(value);
}
