import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { CatalogPointSchema, OperatingPointSchema } from '../src/model/config.ts';
import type { CatalogEntry, SearchedCatalog } from './search-catalog.ts';

// An entry as searches cached before the catalog point was training's shape wrote it: the operating point nested,
// and `accuracy` (equal to devAccuracy) beside it.
const NestedEntrySchema = z
  .object({
    point: OperatingPointSchema,
    id: z.string(),
    flops: z.number(),
    accuracy: z.number(),
    params: z.number(),
    devAccuracy: z.number(),
    devMacroF1: z.number().optional(),
    testAccuracy: z.number(),
    testMacroF1: z.number().optional(),
    latencyMs: z.number(),
  })
  .strict()
  .transform(
    ({ point, id, flops, params, devAccuracy, devMacroF1, testAccuracy, testMacroF1, latencyMs }) => ({
      id,
      subnet: point.subnet,
      tokens: point.tokens,
      params,
      flops,
      referenceTokens: point.tokens,
      devAccuracy,
      testAccuracy,
      ...(devMacroF1 !== undefined && { devMacroF1 }),
      ...(testMacroF1 !== undefined && { testMacroF1 }),
      latencyMs,
    }),
  );

const CatalogEntrySchema = z
  .union([NestedEntrySchema, z.unknown()])
  .pipe(CatalogPointSchema)
  .transform((entry, ctx): CatalogEntry => {
    const { devAccuracy, testAccuracy, latencyMs } = entry;
    if (devAccuracy === null || testAccuracy === undefined || latencyMs === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'a catalog entry needs devAccuracy, testAccuracy and latencyMs',
      });
      return z.NEVER;
    }
    return { ...entry, devAccuracy, testAccuracy, latencyMs };
  });

const SearchedCatalogSchema = z.object({
  entries: z.array(CatalogEntrySchema),
  svg: z.string(),
  summary: z.record(z.string(), z.unknown()),
});

// The search a finished run cached at `path`, or undefined when there is none; throws naming the file when it is
// not a cached search.
export async function readSearchCache(path: string): Promise<SearchedCatalog | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = SearchedCatalogSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${path} is not a cached search: ${issue?.path.join('.')}: ${issue?.message}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

// Caches a finished search at `path`.
export async function writeSearchCache(path: string, search: SearchedCatalog): Promise<void> {
  await writeFile(path, JSON.stringify(search));
}
