import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The page's sources: TypeScript modules and a stylesheet, bundled by esbuild when first asked for.
const CLIENT_DIR = fileURLToPath(new URL('./client/', import.meta.url));
const ENTRY_POINTS = [join(CLIENT_DIR, 'main.ts'), join(CLIENT_DIR, 'page.css')];

// One file the page route serves: its bytes, type and a strong ETag of its content.
export interface PageAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

// The page: its HTML (always revalidated) and its assets, named by content hash (cacheable forever).
export interface PageAssets {
  index: PageAsset;
  // By file name under /page/, e.g. `app.3f9c0a1b2c4d.js`.
  files: ReadonlyMap<string, PageAsset>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
};

// Thrown when the page is turned on where it cannot be built (a bundle without its sources or esbuild).
export class PageUnavailableError extends Error {
  override readonly name = 'PageUnavailableError';
}

// Checks, without building, that the page can be built here: its sources and esbuild are present.
export function checkPageBuildable(): void {
  const missing = ENTRY_POINTS.filter((path) => !existsSync(path));
  if (missing.length > 0) {
    throw new PageUnavailableError(
      `PAGE=on, but the page sources are missing (${missing.join(', ')}); set PAGE=off (the Lambda bundle has none)`,
    );
  }
  try {
    import.meta.resolve('esbuild');
  } catch (error) {
    throw new PageUnavailableError(
      'PAGE=on, but esbuild (which bundles the page) is not installed; set PAGE=off',
      {
        cause: error,
      },
    );
  }
}

let built: Promise<PageAssets> | undefined;

// The page's assets, built once per process (a failed build is retried on the next call).
export function pageAssets(): Promise<PageAssets> {
  built ??= buildPageAssets().catch((error: unknown) => {
    built = undefined;
    throw error;
  });
  return built;
}

// Bundles the client modules and the stylesheet (minified), names each output by its content hash and writes
// those names into the HTML.
export async function buildPageAssets(): Promise<PageAssets> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: ENTRY_POINTS,
    bundle: true,
    format: 'esm',
    target: ['chrome115', 'firefox115', 'safari16'],
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    write: false,
    outdir: '/page',
    logLevel: 'silent',
  });
  const files = new Map<string, PageAsset>();
  const add = (name: string, body: Buffer): string => {
    const hash = contentHash(body);
    const ext = extname(name);
    const hashed = `${basename(name, ext)}.${hash.slice(0, 12)}${ext}`;
    files.set(hashed, asset(body, ext, hash));
    return `/page/${hashed}`;
  };
  const output = (ext: string) => {
    const file = result.outputFiles.find((f) => f.path.endsWith(ext));
    if (file === undefined) throw new Error(`esbuild wrote no ${ext} file for the page`);
    return Buffer.from(file.contents);
  };
  const names = {
    script: add('app.js', output('.js')),
    style: add('page.css', output('.css')),
    icon: add('icon.svg', await readFile(join(CLIENT_DIR, 'icon.svg'))),
  };
  const template = await readFile(join(CLIENT_DIR, 'index.html'), 'utf8');
  const html = Buffer.from(
    template.replace(/\{\{(script|style|icon)\}\}/g, (_, key: keyof typeof names) => names[key]),
  );
  return { index: asset(html, '.html', contentHash(html)), files };
}

function asset(body: Buffer, ext: string, hash: string): PageAsset {
  return {
    body,
    contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream',
    etag: `"${hash.slice(0, 32)}"`,
  };
}

function contentHash(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}
