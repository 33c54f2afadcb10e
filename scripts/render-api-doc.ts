// Keeps the route reference in docs/api.md true: renders the OpenAPI document the server generates from its zod
// schemas (GET /docs/json) as Markdown between the GENERATED markers of docs/api.md.
//   npm run docs:api            rewrites the block
//   npm run docs:api -- --check exits 1 when the committed block differs from what the server generates
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../serving/app.ts';
import { loadConfig } from '../serving/config.ts';

const ROOT = resolve(import.meta.dirname, '..');
export const API_DOC = join(ROOT, 'docs/api.md');
const BEGIN = '<!-- GENERATED: routes (npm run docs:api) -->';
const END = '<!-- END GENERATED -->';

type Json = Record<string, unknown>;

// The OpenAPI document of an app built on the default configuration (nothing is loaded or listened on).
export async function openApiDocument(): Promise<Json> {
  const app = await buildApp({ config: loadConfig({ LOG_LEVEL: 'silent' }), autoStart: false });
  try {
    await app.ready();
    return app.swagger() as unknown as Json;
  } finally {
    await app.close();
  }
}

// A short type of a JSON schema: `string`, `number[]`, `"a" | "b"`, `object`.
function typeOf(schema: Json | undefined): string {
  if (!schema) return 'any';
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const union = (schema.anyOf ?? schema.oneOf) as Json[] | undefined;
  if (Array.isArray(union)) return union.map((s) => typeOf(s)).join(' \\| ');
  if (schema.type === 'array') return `${typeOf(schema.items as Json | undefined)}[]`;
  if (Array.isArray(schema.type)) return schema.type.join(' \\| ');
  return typeof schema.type === 'string' ? schema.type : 'object';
}

function cell(text: unknown): string {
  return String(text ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\s+/g, ' ')
    .trim();
}

// Rows for an object schema's properties, one level deep (nested objects named by their dotted path).
function propertyRows(schema: Json | undefined, prefix: string, depth: number): string[] {
  const properties = schema?.properties as Record<string, Json> | undefined;
  if (!properties) return [];
  const required = new Set((schema?.required as string[] | undefined) ?? []);
  const rows: string[] = [];
  for (const [name, property] of Object.entries(properties)) {
    const path = `${prefix}${name}`;
    rows.push(
      `| \`${path}\` | ${typeOf(property)} | ${required.has(name) ? 'yes' : 'no'} | ${cell(property.description)} |`,
    );
    if (depth > 0 && property.type === 'object') rows.push(...propertyRows(property, `${path}.`, depth - 1));
  }
  return rows;
}

// The Markdown of every route: summary, description, parameters, body fields and responses.
export function renderRoutes(doc: Json): string {
  const out: string[] = [];
  const paths = doc.paths as Record<string, Record<string, Json>>;
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      out.push(`### \`${method.toUpperCase()} ${path}\``, '');
      if (op.summary) out.push(`${cell(op.summary)}.`, '');
      if (op.description) out.push(cell(op.description), '');
      const parameters = (op.parameters as Json[] | undefined) ?? [];
      if (parameters.length > 0) {
        out.push('| parameter | in | type | required | description |', '| --- | --- | --- | --- | --- |');
        for (const p of parameters) {
          out.push(
            `| \`${p.name}\` | ${p.in} | ${typeOf(p.schema as Json | undefined)} | ${p.required ? 'yes' : 'no'} | ${cell(p.description)} |`,
          );
        }
        out.push('');
      }
      const body = (op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
      const bodySchema = body?.['application/json']?.schema as Json | undefined;
      const rows = propertyRows(bodySchema, '', 1);
      if (rows.length > 0) {
        out.push('| body field | type | required | description |', '| --- | --- | --- | --- |', ...rows, '');
      }
      const responses = Object.keys((op.responses as Json | undefined) ?? {});
      if (responses.length > 0) out.push(`Responses: ${responses.join(', ')}.`, '');
    }
  }
  return out.join('\n').trimEnd();
}

// docs/api.md with its generated block replaced.
export function withGeneratedBlock(markdown: string, block: string): string {
  const start = markdown.indexOf(BEGIN);
  const end = markdown.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${API_DOC}: missing the ${BEGIN} ... ${END} markers`);
  return `${markdown.slice(0, start + BEGIN.length)}\n\n${block}\n\n${markdown.slice(end)}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } }, strict: true });
  const current = readFileSync(API_DOC, 'utf8');
  const next = withGeneratedBlock(current, renderRoutes(await openApiDocument()));
  if (values.check) {
    if (next !== current) {
      console.error(`${API_DOC}: the route reference is out of date; run npm run docs:api`);
      process.exit(1);
    }
    console.log(`${API_DOC}: up to date`);
    return;
  }
  writeFileSync(API_DOC, next);
  console.log(`wrote ${API_DOC}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    console.error(`error: ${(error as Error).message}`);
    process.exit(2);
  });
}
