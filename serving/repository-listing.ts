import { readdir } from 'node:fs/promises';
import { ModelNameSchema } from '../src/artifact/manifest.ts';
import { FileStore } from '../src/storage/file-store.ts';
import type { ObjectStore } from '../src/storage/object-store.ts';

// What SUPERNET_URI names: one version folder (it holds manifest.json), one model root (it holds LATEST), or a
// repository whose child folders are model roots; undefined while it holds none of these yet.
export type ArtifactLayout = 'version' | 'model' | 'repository';

// A repository's models, and the children that are not served (each with why).
export interface RepositoryListing {
  models: Array<{ name: string; uri: string }>;
  skipped: Array<{ child: string; reason: string }>;
}

// Looks at what the store's root holds.
export async function detectLayout(store: ObjectStore): Promise<ArtifactLayout | undefined> {
  if (await store.stat('manifest.json')) return 'version';
  if (await store.stat('LATEST')) return 'model';
  const listing = await listRepository(store);
  return listing.models.length > 0 ? 'repository' : undefined;
}

// The model roots among the root's children: folders with a LATEST whose name is a model name. Anything else is
// skipped, never followed: a stray file, a folder without LATEST, a name that is not a safe path segment, a
// symbolic link (in a local folder).
export async function listRepository(store: ObjectStore): Promise<RepositoryListing> {
  const children = new Map<string, { latest: boolean }>();
  const skipped: RepositoryListing['skipped'] = [];
  for (const { key } of await store.list('')) {
    const slash = key.indexOf('/');
    if (slash < 0) {
      skipped.push({ child: key, reason: 'a file, not a model folder' });
      continue;
    }
    const child = key.slice(0, slash);
    const entry = children.get(child) ?? { latest: false };
    if (key === `${child}/LATEST`) entry.latest = true;
    children.set(child, entry);
  }
  for (const link of await symbolicLinks(store)) {
    skipped.push({ child: link, reason: 'a symbolic link, never followed' });
  }
  const models: RepositoryListing['models'] = [];
  for (const [child, { latest }] of [...children].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!ModelNameSchema.safeParse(child).success) {
      skipped.push({
        child,
        reason: 'not a model name (lowercase letters, digits and dashes, at most 63), so never served',
      });
    } else if (!latest) {
      skipped.push({ child, reason: 'no LATEST in it, so not a model root' });
    } else {
      models.push({ name: child, uri: childUri(store.uri, child) });
    }
  }
  return { models, skipped };
}

// The URI of a child folder of a store's root.
export function childUri(rootUri: string, child: string): string {
  return `${rootUri.replace(/\/+$/, '')}/${child}`;
}

// The symbolic links among a local root's children (a store lists no object through them).
async function symbolicLinks(store: ObjectStore): Promise<string[]> {
  if (!(store instanceof FileStore)) return [];
  const entries = await readdir(store.root, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isSymbolicLink()).map((e) => e.name);
}
