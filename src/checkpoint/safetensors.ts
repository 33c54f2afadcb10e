import type { Readable } from 'node:stream';
import { decodeFloat16, encodeFloat16 } from '../artifact/float16.ts';
import { CheckpointError } from '../errors.ts';

// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON naming every tensor's dtype,
// shape and [begin, end) byte range in the data that follows, then the data. Read here as a stream, validated
// whole before any tensor is allocated, and decoded to float32.

// The largest JSON header accepted (the format's own readers refuse above 100 MB).
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

// Every dtype the format defines, by its size; only the float ones below decode.
const STORED_DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};
const DTYPE_BYTES = { F32: 4, F16: 2, BF16: 2 } as const;
// The dtypes decoded to float32.
export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

// One tensor as the header describes it, with offsets into the data section.
export interface SafetensorsEntry {
  name: string;
  // Any dtype of the format; only F32, F16 and BF16 tensors can be read (others, such as the int64
  // position_ids some checkpoints carry, can only be skipped).
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

// A validated header: the entries sorted by offset, where the data starts, and the free-form metadata.
export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  dataStart: number;
  metadata: Record<string, string>;
}

// A tensor decoded to float32.
export interface DecodedTensor {
  shape: number[];
  data: Float32Array;
}

// Validates a header's JSON against the file's size: known dtypes, shapes of safe non-negative integers, byte
// ranges matching shape x dtype, inside the data section, neither overlapping nor leaving holes (as the format
// requires). `file` names the file in errors.
export function parseSafetensorsHeader(
  json: unknown,
  headerBytes: number,
  fileBytes: number,
  file: string,
): SafetensorsHeader {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CheckpointError('MALFORMED_CHECKPOINT', `${file}: the header is not a JSON object`);
  }
  const dataStart = 8 + headerBytes;
  const dataBytes = fileBytes - dataStart;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(raw, file);
      continue;
    }
    entries.push(parseEntry(name, raw, file));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of entries) {
    if (e.begin !== expected) {
      const problem =
        e.begin < expected ? 'overlaps the tensor before it' : `leaves a gap after byte ${expected}`;
      throw new CheckpointError('MALFORMED_CHECKPOINT', `${file}: tensor '${e.name}' ${problem}`);
    }
    if (e.end > dataBytes) {
      throw new CheckpointError(
        'MALFORMED_CHECKPOINT',
        `${file}: tensor '${e.name}' ends at data byte ${e.end}, past the ${dataBytes} bytes of data (truncated file?)`,
      );
    }
    expected = e.end;
  }
  if (expected !== dataBytes) {
    throw new CheckpointError(
      'MALFORMED_CHECKPOINT',
      `${file}: the tensors cover ${expected} bytes of data, the file holds ${dataBytes}`,
    );
  }
  return { entries, dataStart, metadata };
}

function parseMetadata(raw: unknown, file: string): Record<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CheckpointError('MALFORMED_CHECKPOINT', `${file}: __metadata__ is not an object`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') {
      throw new CheckpointError('MALFORMED_CHECKPOINT', `${file}: __metadata__.${k} is not a string`);
    }
    out[k] = v;
  }
  return out;
}

function parseEntry(name: string, raw: unknown, file: string): SafetensorsEntry {
  const where = `${file}: tensor '${name.slice(0, 200)}'`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CheckpointError('MALFORMED_CHECKPOINT', `${where}: not an object`);
  }
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string') throw new CheckpointError('MALFORMED_CHECKPOINT', `${where}: no dtype`);
  if (!Object.hasOwn(STORED_DTYPE_BYTES, dtype)) {
    throw new CheckpointError('MALFORMED_CHECKPOINT', `${where}: unknown dtype ${dtype.slice(0, 20)}`);
  }
  if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new CheckpointError(
      'MALFORMED_CHECKPOINT',
      `${where}: shape must be at most 8 non-negative integers`,
    );
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[1] < offsets[0]
  ) {
    throw new CheckpointError(
      'MALFORMED_CHECKPOINT',
      `${where}: data_offsets must be [begin, end] with begin <= end`,
    );
  }
  const elements = (shape as number[]).reduce((n, d) => n * d, 1);
  const bytes = elements * STORED_DTYPE_BYTES[dtype]!;
  if (!Number.isSafeInteger(bytes) || bytes !== offsets[1] - offsets[0]) {
    throw new CheckpointError(
      'MALFORMED_CHECKPOINT',
      `${where}: shape [${shape}] of ${dtype} needs ${bytes} bytes, data_offsets span ${offsets[1] - offsets[0]}`,
    );
  }
  return { name, dtype, shape: [...(shape as number[])], begin: offsets[0], end: offsets[1] };
}

// Decodes one tensor's little-endian bytes to float32.
export function decodeTensor(dtype: SafetensorsDtype, bytes: Uint8Array): Float32Array {
  const n = bytes.length / DTYPE_BYTES[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  if (dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (dtype === 'F16') {
    const bits = new Uint16Array(n);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true);
    out.set(decodeFloat16(bits));
  } else {
    // bfloat16 is the top half of a float32.
    const wide = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) wide[i] = view.getUint16(i * 2, true) << 16;
  }
  return out;
}

// Reads a safetensors stream of `fileBytes` bytes: the header first (validated against the size before any
// tensor is allocated), then each tensor in file order, decoded to float32. `want` selects the tensors kept (all
// by default); the others are skipped without being held. Refuses a short or long stream.
export async function readSafetensors(
  stream: Readable,
  fileBytes: number,
  file: string,
  want: (name: string) => boolean = () => true,
): Promise<{ header: SafetensorsHeader; tensors: Map<string, DecodedTensor> }> {
  const reader = new ChunkReader(stream, file);
  if (fileBytes < 8)
    throw new CheckpointError('MALFORMED_CHECKPOINT', `${file}: ${fileBytes} bytes, too short for a header`);
  const lengthBytes = await reader.take(8);
  const headerLength = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES) || headerLength > BigInt(fileBytes - 8)) {
    throw new CheckpointError(
      'MALFORMED_CHECKPOINT',
      `${file}: header length ${headerLength} exceeds ${Math.min(MAX_HEADER_BYTES, fileBytes - 8)} bytes`,
    );
  }
  const headerBytes = Number(headerLength);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(await reader.take(headerBytes));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(
      'MALFORMED_CHECKPOINT',
      `${file}: the header is not JSON (${(error as Error).message})`,
    );
  }
  const header = parseSafetensorsHeader(json, headerBytes, fileBytes, file);
  const tensors = new Map<string, DecodedTensor>();
  for (const e of header.entries) {
    const length = e.end - e.begin;
    if (!want(e.name)) {
      await reader.skip(length);
      continue;
    }
    if (!Object.hasOwn(DTYPE_BYTES, e.dtype)) {
      throw new CheckpointError(
        'UNSUPPORTED_CHECKPOINT',
        `${file}: tensor '${e.name}': dtype ${e.dtype} is not supported (F32, F16 and BF16 are)`,
      );
    }
    const data = decodeTensor(e.dtype as SafetensorsDtype, await reader.take(length));
    tensors.set(e.name, { shape: e.shape, data });
  }
  await reader.expectEnd();
  return { header, tensors };
}

// Pulls exact byte counts out of a stream of chunks.
class ChunkReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private chunk: Uint8Array = new Uint8Array(0);
  private position = 0;

  constructor(
    stream: Readable,
    private readonly file: string,
  ) {
    this.iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  }

  private async fill(): Promise<boolean> {
    while (this.position >= this.chunk.length) {
      const next = await this.iterator.next();
      if (next.done) return false;
      this.chunk = next.value instanceof Uint8Array ? next.value : new Uint8Array(next.value as ArrayBuffer);
      this.position = 0;
    }
    return true;
  }

  // Exactly n bytes (a copy when they span chunks).
  async take(n: number): Promise<Uint8Array> {
    if (n === 0) return new Uint8Array(0);
    if (!(await this.fill())) throw this.truncated();
    if (this.chunk.length - this.position >= n) {
      const out = this.chunk.subarray(this.position, this.position + n);
      this.position += n;
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (!(await this.fill())) throw this.truncated();
      const count = Math.min(n - filled, this.chunk.length - this.position);
      out.set(this.chunk.subarray(this.position, this.position + count), filled);
      this.position += count;
      filled += count;
    }
    return out;
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) throw this.truncated();
      const count = Math.min(left, this.chunk.length - this.position);
      this.position += count;
      left -= count;
    }
  }

  async expectEnd(): Promise<void> {
    if (await this.fill()) {
      await this.iterator.return?.();
      throw new CheckpointError('MALFORMED_CHECKPOINT', `${this.file}: more bytes than its size said`);
    }
  }

  private truncated(): CheckpointError {
    return new CheckpointError('MALFORMED_CHECKPOINT', `${this.file}: the file ends early (truncated)`);
  }
}

// One tensor to write.
export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array;
}

// Encodes tensors as a safetensors file, as a list of chunks (the length and header, then one per tensor) so
// that a large file can be written without one buffer of its whole size. F16 rounds to nearest even; BF16
// truncates to the top 16 bits of each float32.
export function encodeSafetensors(
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): Uint8Array[] {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.data.length * DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // The data section starts at a multiple of 8 bytes (padding the header with spaces, as the format allows).
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const first = new Uint8Array(8 + headerBytes.length);
  new DataView(first.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  first.set(headerBytes, 8);
  return [first, ...tensors.map((t) => encodeTensor(t.dtype, t.data))];
}

function encodeTensor(dtype: SafetensorsDtype, data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * DTYPE_BYTES[dtype]);
  const view = new DataView(out.buffer);
  if (dtype === 'F32') {
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  } else if (dtype === 'F16') {
    const bits = encodeFloat16(data);
    for (let i = 0; i < data.length; i++) view.setUint16(i * 2, bits[i]!, true);
  } else {
    const wide = new Uint32Array(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < data.length; i++) view.setUint16(i * 2, wide[i]! >>> 16, true);
  }
  return out;
}
