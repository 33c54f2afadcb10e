// Exports one subnet of a published supernet as a standalone ONNX model:
//   npm run export -- <artifact-uri> <subnet-id> <out.onnx>
// <artifact-uri> is a version folder or a model folder (its LATEST is followed): a path, file:///abs/path or
// s3://bucket/prefix (S3 settings from the AWS_* environment). <subnet-id> is a subnet id (0h4f1024.1h2f512)
// or a catalog operating point id (its subnet is exported, in int8 for a `-int8` point: standard ONNX integer
// operators, int8 weights inside). Exit codes: 0 done, 1 failed, 2 bad input.
import { rename, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { readSupernetAt } from '../src/artifact/read-supernet.ts';
import { exportSubnetOnnx } from '../src/engine/export-subnet-onnx.ts';
import { type ErrorCode, isSupernetError, ModelError } from '../src/errors.ts';
import { countParams } from '../src/model/accounting.ts';
import {
  formatSubnetId,
  type Precision,
  parseOperatingPointId,
  parseSubnetId,
  pointPrecision,
  type SubnetConfig,
} from '../src/model/config.ts';
import { openStore } from '../src/storage/open-store.ts';
import { s3OptionsFromEnv } from '../src/storage/s3-options-from-env.ts';

const USAGE = 'usage: npm run export -- <artifact-uri> <subnet-id> <out.onnx>';

// The command line, parsed once.
export const ExportArgsSchema = z
  .tuple(
    [
      z.string().trim().min(1, { message: 'artifact URI is empty' }),
      z.string().trim().min(1, { message: 'subnet id is empty' }),
      z.string().regex(/\.onnx$/, { message: 'output file must end in .onnx' }),
    ],
    { error: (issue) => (issue.code === 'too_big' ? 'too many arguments' : 'expected three arguments') },
  )
  .transform(([artifactUri, subnetId, outPath]) => ({ artifactUri, subnetId, outPath }));
export type ExportArgs = z.output<typeof ExportArgsSchema>;

// Codes that mean the caller named something wrong (exit 2) rather than that something failed (exit 1).
const BAD_INPUT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_SUBNET_ID',
  'INVALID_SUBNET',
  'SUBNET_OUT_OF_RANGE',
  'INVALID_STORAGE_URI',
  'INVALID_ARTIFACT',
  'ARTIFACT_NOT_FOUND',
  'OBJECT_NOT_FOUND',
  'BUCKET_NOT_FOUND',
]);

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

// Runs the command; returns the exit code. Every failure is one line on `io.err`.
export async function exportOnnxCli(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: CliIo = { out: console.log, err: console.error },
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  const parsed = ExportArgsSchema.safeParse(argv);
  if (!parsed.success) {
    io.err(`export-onnx: ${parsed.error.issues[0]?.message} (${USAGE})`);
    return 2;
  }
  const { artifactUri, subnetId, outPath } = parsed.data;
  try {
    const { subnet, precision } = parseSubnetOrPoint(subnetId);
    const store = openStore(artifactUri, { s3: s3OptionsFromEnv(env) });
    const { manifest, weights } = await readSupernetAt(store);
    const bytes = exportSubnetOnnx(
      manifest.architecture,
      weights,
      subnet,
      {
        model: manifest.model,
        version: manifest.version,
        labels: JSON.stringify(manifest.labels),
      },
      precision,
    );
    const partial = `${outPath}.partial`;
    await writeFile(partial, bytes);
    await rename(partial, outPath);
    const params = countParams(manifest.architecture, subnet);
    io.out(
      `wrote ${outPath}: ${manifest.model}/${manifest.version} subnet ${formatSubnetId(subnet)} (${precision}), ${params} parameters, ${bytes.byteLength} bytes`,
    );
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    const code = isSupernetError(error) ? error.code : undefined;
    io.err(`export-onnx: ${code ? `${code}: ` : ''}${message}`);
    return code && BAD_INPUT.has(code) ? 2 : 1;
  }
}

// A subnet id (fp32), or an operating point id whose subnet and precision (`-int8`) are exported.
function parseSubnetOrPoint(id: string): { subnet: SubnetConfig; precision: Precision } {
  try {
    return { subnet: parseSubnetId(id), precision: 'fp32' };
  } catch (error) {
    if (!(error instanceof ModelError) || !id.includes('-t')) throw error;
    const point = parseOperatingPointId(id);
    return { subnet: point.subnet, precision: pointPrecision(point) };
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await exportOnnxCli(process.argv.slice(2), process.env);
}
