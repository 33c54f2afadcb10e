import { basename, dirname, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { type ObjectStore, type OpenStoreOptions, openStore } from '../../src/storage/index.ts';

// Thrown for data that cannot be trained on: the message is one line naming the file, the place and the problem.
export class DataError extends Error {}

export type DataFormat = 'jsonl' | 'csv' | 'tsv';

// Which columns (CSV, TSV) or keys (JSON Lines) hold the text, the optional second text, and the label.
export interface DataFields {
  text: string;
  textPair?: string | undefined;
  label: string;
}

// A data file: where it is, how to open it, and how it is written.
export interface DataFile {
  // As the config gave it: the name errors use.
  location: string;
  store: ObjectStore;
  key: string;
  format: DataFormat;
  gzip: boolean;
}

// One record as read: texts as written, the label as text (an integer label as its digits).
export interface RawRecord {
  text: string;
  textPair?: string;
  label: string;
}

// Where a record starts: its line, and for CSV and TSV its record number (the header not counted).
export interface RecordPlace {
  line: number;
  record?: number;
}

// The longest line (JSON Lines) or field (CSV, TSV) read: a file without line breaks is refused, not buffered.
export const MAX_RECORD_CHARS = 64 * 1024 * 1024;

const FORMATS: Record<string, DataFormat> = { jsonl: 'jsonl', ndjson: 'jsonl', csv: 'csv', tsv: 'tsv' };

// The format a location's extension names (`.jsonl`, `.ndjson`, `.csv`, `.tsv`, each optionally `.gz`), or
// undefined.
export function dataFormatOf(location: string): { format: DataFormat; gzip: boolean } | undefined {
  const name = location.replace(/[?#].*$/, '').toLowerCase();
  const gzip = name.endsWith('.gz');
  const extension = /\.([a-z]+)$/.exec(gzip ? name.slice(0, -3) : name)?.[1];
  const format = extension === undefined ? undefined : FORMATS[extension];
  return format && { format, gzip };
}

// Opens a data location: a path (relative to the working folder), file:///abs/path or s3://bucket/key.
export function locateDataFile(location: string, options: OpenStoreOptions = {}): DataFile {
  const kind = dataFormatOf(location);
  if (!kind) {
    throw new DataError(
      `data ${location}: unknown format: the name must end in .jsonl, .ndjson, .csv or .tsv (optionally .gz)`,
    );
  }
  let store: ObjectStore;
  let key: string;
  if (/^s3:\/\//i.test(location)) {
    const slash = location.lastIndexOf('/');
    const folder = location.slice(0, slash);
    key = location.slice(slash + 1);
    store = openStore(folder === 's3:/' ? location : folder, options);
  } else {
    const path = /^file:\/\//i.test(location) ? fileURLToPath(location) : resolve(location);
    store = openStore(dirname(path));
    key = basename(path);
  }
  return { location, store, key, ...kind };
}

function placeText(place: RecordPlace): string {
  return place.record === undefined ? `line ${place.line}` : `record ${place.record} (line ${place.line})`;
}

function fail(file: DataFile, place: RecordPlace | undefined, problem: string): never {
  throw new DataError(`data ${file.location}: ${place ? `${placeText(place)}: ` : ''}${problem}`);
}

// Reads a data file as a stream, one record at a time, and calls `onRecord` for each; a string it returns is a
// problem with that record, thrown as a DataError naming the place. Never holds more than a chunk and one
// record in memory. Blank lines are skipped. Returns how many records were read.
export async function readRecords(
  file: DataFile,
  fields: DataFields,
  onRecord: (record: RawRecord, place: RecordPlace) => string | undefined,
): Promise<number> {
  let stream: Readable;
  try {
    stream = await file.store.readStream(file.key);
  } catch (error) {
    fail(file, undefined, `cannot read: ${(error as Error).message}`);
  }
  const source = file.gzip ? stream.pipe(createGunzip()) : stream;
  if (file.gzip) stream.on('error', (error) => source.destroy(error));
  const parser =
    file.format === 'jsonl'
      ? new JsonLinesParser(file, fields, onRecord)
      : new DelimitedParser(
          file,
          fields,
          onRecord,
          file.format === 'csv' ? ',' : '\t',
          file.format === 'csv',
        );
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      parser.push(decodeChunk(file, decoder, chunk, true, parser.line));
    }
    parser.push(decodeChunk(file, decoder, undefined, false, parser.line));
  } catch (error) {
    if (error instanceof DataError) {
      stream.destroy();
      throw error;
    }
    const code = (error as NodeJS.ErrnoException).code;
    const problem =
      code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR'
        ? `not gzip data (${(error as Error).message})`
        : `cannot read: ${(error as Error).message}`;
    fail(file, undefined, problem);
  }
  return parser.end();
}

function decodeChunk(
  file: DataFile,
  decoder: InstanceType<typeof TextDecoder>,
  chunk: Buffer | undefined,
  stream: boolean,
  line: number,
): string {
  try {
    return decoder.decode(chunk, { stream });
  } catch {
    fail(file, { line }, 'not UTF-8 text');
  }
}

// The label of a record: a non-empty string, or an integer written as its digits.
function labelText(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

// Checks a record's texts and label and passes it on; the problem, if any, as one phrase.
function checkRecord(
  fields: DataFields,
  text: unknown,
  textPair: unknown,
  label: unknown,
): RawRecord | string {
  if (text === undefined) return `missing field "${fields.text}"`;
  if (typeof text !== 'string') return `field "${fields.text}" is not a string`;
  if (text.trim() === '') return `empty text in field "${fields.text}"`;
  let pair: string | undefined;
  if (fields.textPair !== undefined) {
    if (textPair === undefined) return `missing field "${fields.textPair}"`;
    if (typeof textPair !== 'string') return `field "${fields.textPair}" is not a string`;
    if (textPair.trim() === '') return `empty text in field "${fields.textPair}"`;
    pair = textPair;
  }
  if (label === undefined || label === null) return `missing field "${fields.label}"`;
  const name = labelText(label);
  if (name === undefined) return `field "${fields.label}" must be a non-empty string or an integer`;
  return pair === undefined ? { text, label: name } : { text, textPair: pair, label: name };
}

// JSON Lines: one JSON object per line.
class JsonLinesParser {
  line = 1;
  private pending = '';
  private records = 0;

  constructor(
    private readonly file: DataFile,
    private readonly fields: DataFields,
    private readonly onRecord: (record: RawRecord, place: RecordPlace) => string | undefined,
  ) {}

  push(chunk: string): void {
    if (chunk.length === 0) return;
    const text = this.pending.length > 0 ? this.pending + chunk : chunk;
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      this.handle(text, start, end);
      start = end + 1;
    }
    this.pending = start === 0 ? text : text.slice(start);
    if (this.pending.length > MAX_RECORD_CHARS) {
      fail(this.file, { line: this.line }, `a line longer than ${MAX_RECORD_CHARS} characters`);
    }
  }

  end(): number {
    if (this.pending.length > 0) this.handle(this.pending, 0, this.pending.length);
    this.pending = '';
    return this.records;
  }

  private handle(text: string, start: number, end: number): void {
    const place = { line: this.line++ };
    const stop = end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
    const line = text.slice(start, stop);
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      fail(this.file, place, `malformed JSON (${(error as Error).message})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      fail(this.file, place, 'not a JSON object');
    }
    const object = value as Record<string, unknown>;
    const get = (key: string | undefined) =>
      key !== undefined && Object.hasOwn(object, key) ? object[key] : undefined;
    const record = checkRecord(
      this.fields,
      get(this.fields.text),
      get(this.fields.textPair),
      get(this.fields.label),
    );
    if (typeof record === 'string') fail(this.file, place, record);
    const problem = this.onRecord(record, place);
    if (problem !== undefined) fail(this.file, place, problem);
    this.records++;
  }
}

const QUOTE = 34;
const LF = 10;
const CR = 13;

// CSV (RFC 4180: fields in double quotes may hold the delimiter, line breaks and doubled quotes) or TSV (no
// quoting: a field holds no tab or line break, a quote is an ordinary character, as GLUE's files are written).
// The first record is the header that names the columns. A CR before a line break is dropped.
class DelimitedParser {
  line = 1;
  private readonly delimiter: number;
  private state: 'start' | 'unquoted' | 'quoted' | 'closed' = 'start';
  private fields: string[] = [];
  private field = '';
  private recordLine = 1;
  private quoteLine = 1;
  private header: string[] | undefined;
  private columns: { text: number; textPair: number | undefined; label: number } | undefined;
  private records = 0;

  constructor(
    private readonly file: DataFile,
    private readonly names: DataFields,
    private readonly onRecord: (record: RawRecord, place: RecordPlace) => string | undefined,
    delimiter: string,
    private readonly quoting: boolean,
  ) {
    this.delimiter = delimiter.charCodeAt(0);
  }

  push(chunk: string): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.state === 'quoted') {
        // Up to the next quote: the field's text, line breaks included.
        const q = chunk.indexOf('"', i);
        const stop = q < 0 ? n : q;
        this.appendSpan(chunk, i, stop);
        if (q < 0) return;
        this.state = 'closed';
        i = q + 1;
        continue;
      }
      const c = chunk.charCodeAt(i);
      if (this.state === 'closed') {
        // After a closing quote: a doubled quote, the delimiter, a line break, or a CR before one.
        if (c === QUOTE) {
          this.field += '"';
          this.state = 'quoted';
        } else if (c === this.delimiter) this.endField();
        else if (c === LF) this.endRecord();
        else if (c !== CR) this.fail(this.line, `a character after the closing quote of a field`);
        i++;
        continue;
      }
      if (this.state === 'start' && c === QUOTE && this.quoting) {
        this.state = 'quoted';
        this.quoteLine = this.line;
        i++;
        continue;
      }
      // An unquoted field: up to the delimiter or the line break.
      let j = i;
      while (j < n) {
        const d = chunk.charCodeAt(j);
        if (d === this.delimiter || d === LF) break;
        if (d === QUOTE && this.quoting) {
          this.fail(
            this.line,
            'a quote inside an unquoted field (quote the whole field and double the quote)',
          );
        }
        j++;
      }
      this.appendSpan(chunk, i, j);
      this.state = 'unquoted';
      if (j === n) return;
      if (chunk.charCodeAt(j) === LF) {
        if (this.field.charCodeAt(this.field.length - 1) === CR) this.field = this.field.slice(0, -1);
        this.endRecord();
      } else this.endField();
      i = j + 1;
    }
  }

  end(): number {
    if (this.state === 'quoted') this.fail(this.quoteLine, 'a quoted field is never closed');
    if (this.state !== 'start' || this.fields.length > 0) {
      if (this.field.charCodeAt(this.field.length - 1) === CR) this.field = this.field.slice(0, -1);
      this.endRecord(false);
    }
    if (!this.header) this.fail(1, 'no header line naming the columns');
    return this.records;
  }

  private appendSpan(chunk: string, from: number, to: number): void {
    if (to <= from) return;
    for (let k = chunk.indexOf('\n', from); k >= 0 && k < to; k = chunk.indexOf('\n', k + 1)) this.line++;
    this.field += chunk.slice(from, to);
    if (this.field.length > MAX_RECORD_CHARS) {
      this.fail(this.recordLine, `a field longer than ${MAX_RECORD_CHARS} characters`);
    }
  }

  private endField(): void {
    this.fields.push(this.field);
    this.field = '';
    this.state = 'start';
  }

  private endRecord(countLine = true): void {
    const blank = this.fields.length === 0 && this.field === '' && this.state !== 'closed';
    this.fields.push(this.field);
    const fields = this.fields;
    const line = this.recordLine;
    this.fields = [];
    this.field = '';
    this.state = 'start';
    if (countLine) this.line++;
    this.recordLine = this.line;
    if (blank) return;
    if (!this.header) {
      this.header = fields.map((f) => f.trim());
      this.columns = {
        text: this.column(this.names.text),
        textPair: this.names.textPair === undefined ? undefined : this.column(this.names.textPair),
        label: this.column(this.names.label),
      };
      return;
    }
    const place = { line, record: this.records + 1 };
    if (fields.length !== this.header.length) {
      this.failAt(place, `${fields.length} fields where the header has ${this.header.length}`);
    }
    const columns = this.columns!;
    const record = checkRecord(
      this.names,
      fields[columns.text],
      columns.textPair === undefined ? undefined : fields[columns.textPair],
      fields[columns.label],
    );
    if (typeof record === 'string') this.failAt(place, record);
    const problem = this.onRecord(record, place);
    if (problem !== undefined) this.failAt(place, problem);
    this.records++;
  }

  private column(name: string): number {
    const index = this.header!.indexOf(name);
    if (index < 0) {
      this.fail(1, `no column "${name}" in the header (columns: ${this.header!.join(', ').slice(0, 200)})`);
    }
    return index;
  }

  private fail(line: number, problem: string): never {
    fail(this.file, { line }, problem);
  }

  private failAt(place: RecordPlace, problem: string): never {
    fail(this.file, place, problem);
  }
}
