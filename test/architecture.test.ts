import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

// The import rules of STYLE.md: serving and training import src, never each other; src imports neither;
// cdk imports no runtime code; loadtests talk to the API over HTTP only; src reads no environment.

const ROOT = resolve(import.meta.dirname, '..');
const AREAS = ['src', 'serving', 'training', 'loadtests', 'cdk'] as const;
type Area = (typeof AREAS)[number];

const FORBIDDEN: Record<Area, Area[]> = {
  src: ['serving', 'training', 'loadtests', 'cdk'],
  serving: ['training', 'loadtests', 'cdk'],
  training: ['serving', 'loadtests', 'cdk'],
  loadtests: ['src', 'serving', 'training', 'cdk'],
  cdk: ['src', 'serving', 'training', 'loadtests'],
};
// Runtime packages that must never load during `cdk synth`.
const CDK_FORBIDDEN_PACKAGES = [/^@tensorflow\//, /^onnxruntime/, /^fastify/, /^@fastify\//];

function sourceFiles(dir: string): string[] {
  let found: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  for (const name of names) {
    if (name === 'node_modules' || name === 'cdk.out') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found = found.concat(sourceFiles(path));
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) found.push(path);
  }
  return found;
}

// Every module specifier in static imports, re-exports and dynamic imports with a literal.
export function importsOf(code: string): string[] {
  const specs: string[] = [];
  const patterns = [
    /\bfrom\s+['"]([^'"]+)['"]/g,
    /\bimport\s+['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) specs.push(m[1]!);
  return specs;
}

function areaOf(absolute: string): Area | undefined {
  const top = relative(ROOT, absolute).split(/[\\/]/)[0];
  return AREAS.find((a) => a === top);
}

describe('architecture', () => {
  it('finds the source it checks', () => {
    assert.ok(sourceFiles(join(ROOT, 'src')).length > 5);
  });

  for (const area of AREAS) {
    it(`${area} imports none of ${FORBIDDEN[area].join(', ')}`, () => {
      const violations: string[] = [];
      for (const file of sourceFiles(join(ROOT, area))) {
        for (const spec of importsOf(readFileSync(file, 'utf8'))) {
          if (spec.startsWith('.')) {
            const target = areaOf(resolve(dirname(file), spec));
            if (target && FORBIDDEN[area].includes(target))
              violations.push(`${relative(ROOT, file)} -> ${spec}`);
          } else if (area === 'cdk' && CDK_FORBIDDEN_PACKAGES.some((p) => p.test(spec))) {
            violations.push(`${relative(ROOT, file)} -> ${spec} (runtime package)`);
          }
        }
      }
      assert.deepEqual(violations, []);
    });
  }

  it('src reads no environment variables (they are parsed once per program, in serving and training)', () => {
    const withoutComments = (f: string) => readFileSync(f, 'utf8').replace(/^\s*\/\/.*$/gm, '');
    const readers = sourceFiles(join(ROOT, 'src')).filter((f) => /process\.env/.test(withoutComments(f)));
    assert.deepEqual(
      readers.map((f) => relative(ROOT, f)),
      [],
    );
  });

  it('the page runs in a browser on the public API: its modules import only each other', () => {
    const client = join(ROOT, 'serving', 'page', 'client');
    const files = sourceFiles(client);
    assert.ok(files.length > 3);
    const outside = files.flatMap((file) =>
      importsOf(readFileSync(file, 'utf8'))
        .filter(
          (spec) => !spec.startsWith('.') || relative(client, resolve(dirname(file), spec)).startsWith('..'),
        )
        .map((spec) => `${relative(ROOT, file)} -> ${spec}`),
    );
    assert.deepEqual(outside, []);
  });

  it('catches a violation when one is there (the scanner is not blind)', () => {
    assert.deepEqual(
      importsOf(
        `import { x } from '../serving/app.ts';\nexport * from "./a.ts";\nawait import('../training/cli.ts');`,
      ),
      ['../serving/app.ts', './a.ts', '../training/cli.ts'],
    );
  });
});
