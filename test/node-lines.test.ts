import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';

// The supported Node.js lines are stated in several places that must agree: the lines CI tests (.ci/run),
// package.json `engines` and `@types/node`, the README's set-up, the Lambda runtime and the training image.

const ROOT = resolve(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const pkg = JSON.parse(read('package.json')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
  allowScripts: Record<string, boolean>;
};

function match(text: string, pattern: RegExp, where: string): RegExpMatchArray {
  const found = text.match(pattern);
  assert.ok(found, `${where}: no match for ${pattern}`);
  return found;
}

const ciLines = match(read('.ci/run'), /^NODE_LINES=\(([\d ]+)\)$/m, '.ci/run')[1]
  ?.split(' ')
  .map(Number) as number[];

describe('supported Node.js lines', () => {
  it('CI tests at least two lines, oldest first', () => {
    assert.ok(ciLines.length >= 2, String(ciLines));
    assert.deepEqual(
      ciLines,
      [...ciLines].sort((a, b) => a - b),
    );
  });

  it('package.json engines start at the oldest tested line, and @types/node is that line', () => {
    assert.equal(pkg.engines.node, `>=${ciLines[0]}`);
    assert.equal(pkg.devDependencies['@types/node']?.split('.')[0], String(ciLines[0]));
  });

  it("the README's set-up names exactly the tested lines", () => {
    const setUp = match(read('README.md'), /## Set up\n\n(.*)\n/, 'README.md')[1] ?? '';
    const named = match(setUp, /Node\.js ([\d, ]+(?: or \d+)?) \(/, 'README.md set-up')[1] ?? '';
    assert.deepEqual(named.split(/, | or /).map(Number), ciLines);
  });

  it('the Lambda runtime and its bundle target are one tested line', () => {
    const source = read('cdk/serving-function.ts');
    const runtime = Number(match(source, /lambda\.Runtime\.NODEJS_(\d+)_X/, 'cdk/serving-function.ts')[1]);
    const target = Number(match(source, /target: 'node(\d+)'/, 'cdk/serving-function.ts')[1]);
    assert.equal(target, runtime);
    assert.ok(ciLines.includes(runtime), `nodejs${runtime}.x is not among the tested lines ${ciLines}`);
  });

  it('the training image runs a tested line', () => {
    const line = Number(
      match(read('training/Dockerfile'), /^ARG NODE_IMAGE=node:(\d+)-/m, 'training/Dockerfile')[1],
    );
    assert.ok(ciLines.includes(line), `node:${line} is not among the tested lines ${ciLines}`);
  });
});

// Every installed package with an install script is named in allowScripts, so `npm ci` runs only what the
// policy decided and prints no "not yet covered" warning.
function installedPackagesWithScripts(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) {
      for (const scoped of readdirSync(join(dir, name))) found.push(...inspect(join(dir, name, scoped)));
    } else found.push(...inspect(join(dir, name)));
  }
  return found;
}

function inspect(path: string): string[] {
  let manifest: { name?: string; scripts?: Record<string, string> };
  try {
    manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'));
  } catch {
    return [];
  }
  const own = ['preinstall', 'install', 'postinstall'].some((s) => manifest.scripts?.[s])
    ? [manifest.name ?? path]
    : [];
  let nested: string[] = [];
  try {
    nested = installedPackagesWithScripts(join(path, 'node_modules'));
  } catch {}
  return [...own, ...nested];
}

describe('install-script policy', () => {
  it('names every installed package that has an install script', () => {
    const withScripts = [...new Set(installedPackagesWithScripts(join(ROOT, 'node_modules')))].sort();
    assert.ok(withScripts.includes('onnxruntime-node'), withScripts.join(', '));
    const uncovered = withScripts.filter((name) => !(name in pkg.allowScripts));
    assert.deepEqual(
      uncovered,
      [],
      'add them to allowScripts in package.json, with the reason in the README',
    );
  });

  it('denies onnxruntime-node its CUDA download', () => {
    assert.equal(pkg.allowScripts['onnxruntime-node'], false);
  });
});
