import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { type Manifest, parseManifest } from '../../../src/artifact/manifest.ts';
import { publishSupernet } from '../../../src/artifact/publish-supernet.ts';
import { ArtifactError } from '../../../src/errors.ts';
import { type EditableJson, recordingStore, tempFolderStore, tinyPublishOptions } from './fixtures.ts';

const FILE = 'tiny-sentiment/v1/manifest.json';

// A valid manifest as plain JSON (published once to a scratch folder).
async function validManifestJson(t: TestContext): Promise<EditableJson> {
  const { store } = await tempFolderStore(t);
  const manifest = await publishSupernet(store, tinyPublishOptions());
  return JSON.parse(JSON.stringify(manifest)) as EditableJson;
}

function assertArtifactError(fn: () => unknown, code: string, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ArtifactError, `expected an ArtifactError, got ${err}`);
    assert.equal(err.code, code, err.message);
    for (const f of fragments) assert.ok(err.message.includes(f), `'${err.message}' should mention '${f}'`);
    return true;
  });
}

describe('parseManifest', () => {
  it('accepts a published manifest and keeps every field', async (t) => {
    const json = await validManifestJson(t);
    const manifest: Manifest = parseManifest(json, FILE);
    assert.deepEqual(JSON.parse(JSON.stringify(manifest)), json);
    assert.equal(manifest.catalog.length, 2);
    assert.equal(manifest.catalog[0]?.id, '0h1f8-t8');
  });

  it('refuses another format version before looking at the rest', async (t) => {
    const json = await validManifestJson(t);
    assertArtifactError(
      () => parseManifest({ ...json, formatVersion: 3 }, FILE),
      'UNSUPPORTED_FORMAT_VERSION',
      FILE,
      'formatVersion 3; this reader supports 1 and 2',
    );
    // Even when the rest would not parse as a known version.
    assertArtifactError(
      () => parseManifest({ formatVersion: 3, shiny: true }, FILE),
      'UNSUPPORTED_FORMAT_VERSION',
      FILE,
    );
    assertArtifactError(
      () => parseManifest({ ...json, formatVersion: '1' }, FILE),
      'UNSUPPORTED_FORMAT_VERSION',
      FILE,
    );
  });

  it('writes format 2 with the task, and reads format 1 (no task, no token types) as a single-text task', async (t) => {
    const json = await validManifestJson(t);
    assert.equal(json.formatVersion, 2);
    assert.deepEqual(json.task, { input: 'single' });
    const { task: _, ...rest } = json;
    const v1 = { ...rest, formatVersion: 1 };
    assert.deepEqual(parseManifest(v1, FILE).task, { input: 'single' });
    assertArtifactError(
      () => parseManifest({ ...json, formatVersion: 1 }, FILE),
      'MALFORMED_MANIFEST',
      'task needs formatVersion 2',
    );
    assertArtifactError(
      () => parseManifest({ ...v1, architecture: { ...json.architecture, typeVocabSize: 2 } }, FILE),
      'MALFORMED_MANIFEST',
      'architecture.typeVocabSize: token types need formatVersion 2',
    );
    const { task: __, ...noTask } = json;
    assertArtifactError(() => parseManifest(noTask, FILE), 'MALFORMED_MANIFEST', 'task: missing');
  });

  it('records a pair task: token types required, field names consistent with the input kind', async (t) => {
    const json = await validManifestJson(t);
    const fields = { text: 'question', textPair: 'answer', label: 'relevant' };
    const pairArch = { ...json.architecture, typeVocabSize: 2 };
    const pair = parseManifest({ ...json, architecture: pairArch, task: { input: 'pair', fields } }, FILE);
    assert.deepEqual(pair.task, { input: 'pair', fields });
    assertArtifactError(
      () => parseManifest({ ...json, task: { input: 'pair', fields } }, FILE),
      'MALFORMED_MANIFEST',
      'architecture.typeVocabSize: a pair task needs token types 0 and 1',
    );
    assertArtifactError(
      () =>
        parseManifest(
          { ...json, architecture: pairArch, task: { input: 'pair', fields: { text: 'q', label: 'l' } } },
          FILE,
        ),
      'MALFORMED_MANIFEST',
      'task.fields.textPair',
    );
    assertArtifactError(
      () => parseManifest({ ...json, task: { input: 'single', fields } }, FILE),
      'MALFORMED_MANIFEST',
      'task.fields.textPair',
    );
    assertArtifactError(
      () => parseManifest({ ...json, task: { input: 'triple' } }, FILE),
      'MALFORMED_MANIFEST',
      'task.input',
    );
  });

  it('refuses a missing format version, a non-object and a missing field', async (t) => {
    const json = await validManifestJson(t);
    const { formatVersion: _, ...noVersion } = json;
    assertArtifactError(() => parseManifest(noVersion, FILE), 'MALFORMED_MANIFEST', FILE, 'formatVersion');
    assertArtifactError(() => parseManifest([json], FILE), 'MALFORMED_MANIFEST', FILE);
    assertArtifactError(() => parseManifest(null, FILE), 'MALFORMED_MANIFEST', FILE);
    const { provenance: __, ...noProvenance } = json;
    assertArtifactError(() => parseManifest(noProvenance, FILE), 'MALFORMED_MANIFEST', FILE, 'provenance');
  });

  it('refuses unknown fields (strict objects)', async (t) => {
    const json = await validManifestJson(t);
    assertArtifactError(
      () => parseManifest({ ...json, extra: 1 }, FILE),
      'MALFORMED_MANIFEST',
      FILE,
      'extra',
    );
    const tokenizer = { ...json.tokenizer, vocabFile: 'other.txt' };
    assertArtifactError(
      () => parseManifest({ ...json, tokenizer }, FILE),
      'MALFORMED_MANIFEST',
      'tokenizer.vocabFile',
    );
  });

  it('refuses overlapping, misaligned, mis-sized and out-of-file weight entries, naming the entry', async (t) => {
    const json = await validManifestJson(t);
    const entries: EditableJson[] = json.weights.entries;
    const withEntries = (change: (e: EditableJson[]) => void) => {
      const copy = structuredClone(json);
      change(copy.weights.entries);
      return copy;
    };
    const second = entries[1]!.name as string;
    assertArtifactError(
      () =>
        parseManifest(
          withEntries((e) => {
            e[1]!.offset = e[0]!.offset;
          }),
          FILE,
        ),
      'MALFORMED_MANIFEST',
      FILE,
      second,
      'overlaps',
    );
    assertArtifactError(
      () =>
        parseManifest(
          withEntries((e) => {
            e[1]!.offset += 4;
          }),
          FILE,
        ),
      'MALFORMED_MANIFEST',
      second,
      'multiple of 64',
    );
    assertArtifactError(
      () =>
        parseManifest(
          withEntries((e) => {
            e[1]!.length -= 4;
          }),
          FILE,
        ),
      'MALFORMED_MANIFEST',
      second,
      'length',
    );
    assertArtifactError(
      () =>
        parseManifest(
          withEntries((e) => {
            e[1]!.dtype = 'float16';
          }),
          FILE,
        ),
      'MALFORMED_MANIFEST',
      second,
    );
    const last = entries.at(-1)!.name as string;
    assertArtifactError(
      () =>
        parseManifest(
          withEntries((e) => {
            e.at(-1)!.offset += 64;
          }),
          FILE,
        ),
      'MALFORMED_MANIFEST',
      last,
      'run past',
    );
    assertArtifactError(
      () =>
        parseManifest(
          withEntries((e) => {
            e[1]!.name = e[0]!.name;
          }),
          FILE,
        ),
      'MALFORMED_MANIFEST',
      'duplicate',
    );
  });

  it('refuses a catalog id that does not match its subnet and tokens, and duplicate ids', async (t) => {
    const json = await validManifestJson(t);
    const wrongId = structuredClone(json);
    wrongId.catalog[0].id = '0h2f8-t8';
    assertArtifactError(() => parseManifest(wrongId, FILE), 'MALFORMED_MANIFEST', FILE, 'catalog.0.id');
    const duplicate = structuredClone(json);
    duplicate.catalog[1] = duplicate.catalog[0];
    assertArtifactError(() => parseManifest(duplicate, FILE), 'MALFORMED_MANIFEST', 'duplicate', '0h1f8-t8');
    const tooWide = structuredClone(json);
    tooWide.catalog[0].subnet.layers[0].heads = 3;
    tooWide.catalog[0].id = '0h3f8-t8';
    assertArtifactError(() => parseManifest(tooWide, FILE), 'MALFORMED_MANIFEST', 'catalog.0.subnet');
  });

  it('reads catalog entries with and without a precision (absent: fp32), the id naming an int8 one', async (t) => {
    const json = await validManifestJson(t);
    assert.equal(json.catalog[0].precision, undefined);
    const mixed = structuredClone(json);
    mixed.catalog[1] = { ...structuredClone(json.catalog[0]), precision: 'int8', id: '0h1f8-t8-int8' };
    mixed.catalog[0].precision = 'fp32';
    const manifest = parseManifest(mixed, FILE);
    assert.deepEqual(
      manifest.catalog.map((e) => [e.id, e.precision]),
      [
        ['0h1f8-t8', 'fp32'],
        ['0h1f8-t8-int8', 'int8'],
      ],
    );
    assert.equal(parseManifest(json, FILE).catalog[0]!.precision, undefined);
    const unsuffixed = structuredClone(mixed);
    unsuffixed.catalog[1].id = '0h1f8-t8';
    assertArtifactError(() => parseManifest(unsuffixed, FILE), 'MALFORMED_MANIFEST', 'catalog.1.id');
    const suffixedFp32 = structuredClone(json);
    suffixedFp32.catalog[0].id = '0h1f8-t8-int8';
    assertArtifactError(() => parseManifest(suffixedFp32, FILE), 'MALFORMED_MANIFEST', 'catalog.0.id');
    const unknown = structuredClone(json);
    unknown.catalog[0].precision = 'int4';
    assertArtifactError(() => parseManifest(unknown, FILE), 'MALFORMED_MANIFEST', 'catalog.0.precision');
  });

  it('accepts an empty catalog and no search space', async (t) => {
    const json = await validManifestJson(t);
    const rest = structuredClone(json);
    rest.catalog = [];
    delete rest.searchSpace;
    assert.deepEqual(parseManifest(rest, FILE).catalog, []);
  });

  it('refuses labels that do not match numLabels, and bad names', async (t) => {
    const json = await validManifestJson(t);
    assertArtifactError(
      () => parseManifest({ ...json, labels: ['only'] }, FILE),
      'MALFORMED_MANIFEST',
      'labels',
    );
    assertArtifactError(
      () => parseManifest({ ...json, model: 'Bad_Name' }, FILE),
      'MALFORMED_MANIFEST',
      'model',
    );
    assertArtifactError(
      () => parseManifest({ ...json, version: '../x' }, FILE),
      'MALFORMED_MANIFEST',
      'version',
    );
    const badSha = structuredClone(json);
    badSha.files['weights.bin'].sha256 = 'ABC';
    assertArtifactError(() => parseManifest(badSha, FILE), 'MALFORMED_MANIFEST', 'files.weights.bin.sha256');
  });

  it('is what publish validates before writing anything', async (t) => {
    const { store: inner } = await tempFolderStore(t);
    const { store, events } = recordingStore(inner);
    await assert.rejects(
      publishSupernet(store, tinyPublishOptions({ labels: ['a', 'b', 'c'] })),
      (err: unknown) =>
        err instanceof ArtifactError && err.code === 'MALFORMED_MANIFEST' && err.message.includes(FILE),
    );
    assert.deepEqual(events, []);
  });
});
