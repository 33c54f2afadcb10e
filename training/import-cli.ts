// npm run import -- --checkpoint <dir|s3://...> --out <folder|s3://...> [--model NAME] [--version V]
//   [--tokens N] [--labels a,b,...] [--weight-dtype float32|float16] [--input single|pair]
// Publishes a Hugging Face BERT sequence classifier as a servable artifact of the BERT form.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { isSupernetError } from '../src/errors.ts';
import { openStore, s3OptionsFromEnv } from '../src/storage/index.ts';
import { importCheckpoint } from './import-checkpoint.ts';

const USAGE =
  'usage: npm run import -- --checkpoint <folder|s3://bucket/prefix> --out <folder|s3://bucket/prefix> [--model NAME] [--version V] [--tokens N] [--labels a,b,...] [--weight-dtype float32|float16] [--input single|pair]';

// The command line, parsed in this one place.
const ArgsSchema = z
  .object({
    checkpoint: z.string({ error: '--checkpoint <folder|s3://bucket/prefix> is required' }).min(1),
    out: z.string({ error: '--out <folder|s3://bucket/prefix> is required' }).min(1),
    model: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'must match ^[a-z0-9][a-z0-9-]{0,62}$' })
      .optional(),
    version: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, {
        message: 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
      })
      .optional(),
    tokens: z.coerce.number().int().min(2).max(8192).optional(),
    labels: z
      .string()
      .transform((s) => s.split(',').map((l) => l.trim()))
      .refine((l) => l.every((x) => x.length > 0) && new Set(l).size === l.length, {
        message: 'must be distinct, non-empty names separated by commas',
      })
      .optional(),
    weightDtype: z.enum(['float32', 'float16']).default('float32'),
    input: z.enum(['single', 'pair']).default('single'),
  })
  .strict();
export type ImportArgs = z.infer<typeof ArgsSchema>;

export class ImportUsageError extends Error {}

export function parseImportArgs(argv: string[]): ImportArgs {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        checkpoint: { type: 'string' },
        out: { type: 'string' },
        model: { type: 'string' },
        version: { type: 'string' },
        tokens: { type: 'string' },
        labels: { type: 'string' },
        'weight-dtype': { type: 'string' },
        input: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new ImportUsageError(`${(error as Error).message}\n${USAGE}`);
  }
  const { 'weight-dtype': weightDtype, ...rest } = values;
  const parsed = ArgsSchema.safeParse({ ...rest, weightDtype });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const flag = key === 'weightDtype' ? 'weight-dtype' : key;
    const message = issue.message.startsWith('--') ? issue.message : `--${flag}: ${issue.message}`;
    throw new ImportUsageError(`${message}\n${USAGE}`);
  }
  return parsed.data;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const args = parseImportArgs(argv);
    const s3 = s3OptionsFromEnv(process.env);
    const started = performance.now();
    const manifest = await importCheckpoint(openStore(args.checkpoint, { s3 }), openStore(args.out, { s3 }), {
      ...(args.model !== undefined && { model: args.model }),
      ...(args.version !== undefined && { version: args.version }),
      ...(args.tokens !== undefined && { tokens: args.tokens }),
      ...(args.labels !== undefined && { labels: args.labels }),
      weightDtype: args.weightDtype,
      input: args.input,
    });
    const point = manifest.catalog[0]!;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `imported ${args.checkpoint} as ${manifest.model} version ${manifest.version} in ${seconds} s: ` +
        `${manifest.architecture.maxLayers} layers, hidden ${manifest.architecture.hiddenSize}, ` +
        `${(point.params / 1e6).toFixed(1)}M parameters, labels ${manifest.labels.join(', ')}; ` +
        `operating point ${point.id}`,
    );
    return 0;
  } catch (error) {
    if (error instanceof ImportUsageError) {
      console.error(`error: ${error.message}`);
      return 2;
    }
    if (isSupernetError(error)) {
      console.error(`error: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
