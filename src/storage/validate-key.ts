import { StorageError } from '../errors.ts';

// S3's own limit on a whole key, in UTF-8 bytes.
export const MAX_KEY_BYTES = 1024;

// Control characters (NUL breaks file paths; the others are never meant in a key).
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

// Why the key is not a valid object key, or undefined when it is.
function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 'it is empty';
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `it is longer than ${MAX_KEY_BYTES} bytes`;
  if (key.startsWith('/')) return 'it is absolute (starts with /)';
  if (key.includes('\\')) return 'it contains a backslash';
  if (hasControlCharacter(key)) return 'it contains a control character';
  for (const segment of key.split('/')) {
    if (segment === '') return 'it has an empty segment (// or a trailing /)';
    if (segment === '.' || segment === '..') return `it has a '${segment}' segment`;
  }
  return undefined;
}

// Checks a '/'-separated object key relative to a store's root; throws INVALID_KEY naming the store.
export function validateKey(key: string, storeUri: string): string {
  const problem = typeof key === 'string' ? keyProblem(key) : 'it is not a string';
  if (problem !== undefined) {
    throw new StorageError(
      'INVALID_KEY',
      `invalid object key ${JSON.stringify(key)} in ${storeUri}: ${problem}`,
    );
  }
  return key;
}

// Checks a list() prefix: '' (everything), a key, or a key followed by '/'.
export function validatePrefix(prefix: string, storeUri: string): string {
  if (prefix === '') return prefix;
  validateKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, storeUri);
  return prefix;
}

// Orders keys the way S3 lists them (by UTF-8 bytes), so both stores sort alike.
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
