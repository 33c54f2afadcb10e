// Publishes a version folder (manifest.json, weights.bin, vocab.txt) to a model root by hand, safely:
//   npm run publish-version -- <version-folder> <model-root>
// Verifies the folder first (manifest schema, every file's size and sha256), copies weights.bin and vocab.txt to
// <model-root>/<version>/, then manifest.json (the commit marker), reads the copy back and verifies it, and writes
// <model-root>/LATEST last, so that a server polling LATEST never sees a version before all of it is in place.
// <version> is the manifest's `version` (a server refuses a folder whose manifest names another version, so the
// source folder's own name does not matter). Either location is a path, file:///abs/path or s3://bucket/prefix
// (S3 settings from the AWS_* environment). Exit codes: 0 published, 1 failed, 2 bad input.
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { readSupernetAt } from '../src/artifact/read-supernet.ts';
import { ArtifactError, type ErrorCode, isSupernetError } from '../src/errors.ts';
import { openStore } from '../src/storage/open-store.ts';
import { s3OptionsFromEnv } from '../src/storage/s3-options-from-env.ts';
import type { CliIo } from './export-onnx.ts';

const USAGE = 'usage: npm run publish-version -- <version-folder> <model-root>';
const FILES = ['weights.bin', 'vocab.txt', 'manifest.json'] as const;

// The command line, parsed once.
export const PublishVersionArgsSchema = z
  .tuple(
    [
      z.string().trim().min(1, { message: 'version folder is empty' }),
      z.string().trim().min(1, { message: 'model root is empty' }),
    ],
    { error: (issue) => (issue.code === 'too_big' ? 'too many arguments' : 'expected two arguments') },
  )
  .transform(([folder, modelRoot]) => ({ folder, modelRoot }));

// Codes that mean the caller named something wrong (exit 2) rather than that something failed (exit 1).
const BAD_INPUT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_STORAGE_URI',
  'MALFORMED_MANIFEST',
  'UNSUPPORTED_FORMAT_VERSION',
  'CHECKSUM_MISMATCH',
  'TRUNCATED_FILE',
  'ARTIFACT_NOT_FOUND',
  'INVALID_ARTIFACT',
  'VERSION_EXISTS',
  'OBJECT_NOT_FOUND',
  'BUCKET_NOT_FOUND',
]);

// Runs the command; returns the exit code. Every failure is one line on `io.err`.
export async function publishVersionCli(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: CliIo = { out: console.log, err: console.error },
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  const parsed = PublishVersionArgsSchema.safeParse(argv);
  if (!parsed.success) {
    io.err(`publish-version: ${parsed.error.issues[0]?.message} (${USAGE})`);
    return 2;
  }
  const { folder, modelRoot } = parsed.data;
  try {
    const s3 = s3OptionsFromEnv(env);
    const source = openStore(folder, { s3 });
    const target = openStore(modelRoot, { s3 });
    if (!(await source.stat('manifest.json'))) {
      throw new ArtifactError(
        'ARTIFACT_NOT_FOUND',
        `${source.uri} holds no manifest.json: give a version folder (manifest.json, weights.bin, vocab.txt)`,
      );
    }
    const { manifest } = await readSupernetAt(source);
    const version = manifest.version;
    if (await target.stat(`${version}/manifest.json`)) {
      throw new ArtifactError(
        'VERSION_EXISTS',
        `${target.uri}/${version} is already published; a version is never replaced: give the manifest a new version`,
      );
    }
    for (const file of FILES) await target.write(`${version}/${file}`, await source.readStream(file));
    const copy = await readSupernetAt(target, version);
    if (copy.manifest.version !== version) {
      throw new ArtifactError('INVALID_ARTIFACT', `${target.uri}/${version} changed while it was published`);
    }
    await target.write('LATEST', new TextEncoder().encode(`${version}\n`));
    io.out(`published ${manifest.model} version ${version} to ${target.uri}/${version}; LATEST names it`);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    const code = isSupernetError(error) ? error.code : undefined;
    io.err(`publish-version: ${code ? `${code}: ` : ''}${message}`);
    return code && BAD_INPUT.has(code) ? 2 : 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await publishVersionCli(process.argv.slice(2), process.env);
}
