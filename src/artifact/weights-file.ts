import { ArtifactError } from '../errors.ts';
import type { WeightTensor } from '../model/weights.ts';
import { decodeFloat16, encodeFloat16 } from './float16.ts';
import { type DTYPE_BYTES, WEIGHT_ALIGNMENT_BYTES, type WeightEntry, weightByteLength } from './manifest.ts';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// weights.bin packed in memory, with the manifest entries that describe it.
export interface PackedWeights {
  bytes: Uint8Array;
  entries: WeightEntry[];
}

// Where each tensor goes in weights.bin (in the given order, each entry starting at a multiple of 64 bytes) and
// the file's size, checked before any byte is written. Refuses (INVALID_ARTIFACT, naming the tensor) duplicate or
// empty names, bad shapes, a data length that differs from the shape, non-finite values, and values that overflow
// float16 when stored as float16.
export function layoutWeights(
  weights: readonly WeightTensor[],
  dtype: keyof typeof DTYPE_BYTES,
): { entries: WeightEntry[]; bytes: number } {
  const entries: WeightEntry[] = [];
  const names = new Set<string>();
  let end = 0;
  for (const w of weights) {
    if (typeof w.name !== 'string' || w.name.length === 0) {
      throw new ArtifactError(
        'INVALID_ARTIFACT',
        `weight #${entries.length}: name must be a non-empty string`,
      );
    }
    const where = `weight '${w.name}'`;
    if (names.has(w.name)) throw new ArtifactError('INVALID_ARTIFACT', `duplicate ${where}`);
    names.add(w.name);
    if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new ArtifactError('INVALID_ARTIFACT', `${where}: shape [${w.shape}] must be positive integers`);
    }
    if (!(w.data instanceof Float32Array)) {
      throw new ArtifactError('INVALID_ARTIFACT', `${where}: data must be a Float32Array`);
    }
    const length = weightByteLength(w.shape, dtype);
    const elements = w.shape.reduce((n, d) => n * d, 1);
    if (length === undefined || elements !== w.data.length) {
      throw new ArtifactError(
        'INVALID_ARTIFACT',
        `${where}: shape [${w.shape}] holds ${elements} values, data has ${w.data.length}`,
      );
    }
    for (let k = 0; k < w.data.length; k++) {
      const v = w.data[k]!;
      if (!Number.isFinite(v)) {
        throw new ArtifactError('INVALID_ARTIFACT', `${where}: value ${v} at index ${k} is not finite`);
      }
      // float16's largest is 65504; from 65520 up a value rounds to infinity.
      if (dtype === 'float16' && Math.abs(v) >= 65520) {
        throw new ArtifactError(
          'INVALID_ARTIFACT',
          `weight '${w.name}': value ${v} at index ${k} overflows float16 (largest 65504)`,
        );
      }
    }
    const offset = alignUp(end);
    entries.push({ name: w.name, shape: [...w.shape], dtype, offset, length });
    end = offset + length;
  }
  return { entries, bytes: end };
}

// One tensor's little-endian bytes as weights.bin stores it (float32 on a little-endian host: a view, no copy).
export function encodeWeight(data: Float32Array, dtype: keyof typeof DTYPE_BYTES): Uint8Array {
  if (dtype === 'float32') {
    if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const bytes = new Uint8Array(data.byteLength);
    const view = new DataView(bytes.buffer);
    for (let k = 0; k < data.length; k++) view.setFloat32(4 * k, data[k]!, true);
    return bytes;
  }
  const half = encodeFloat16(data);
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(half.buffer);
  const bytes = new Uint8Array(half.byteLength);
  const view = new DataView(bytes.buffer);
  for (let k = 0; k < half.length; k++) view.setUint16(2 * k, half[k]!, true);
  return bytes;
}

// weights.bin as a sequence of chunks (alignment padding, then each tensor in turn): what a large model is
// written from without holding a second copy of its weights.
export function* weightChunks(
  weights: readonly WeightTensor[],
  entries: readonly WeightEntry[],
): Generator<Uint8Array> {
  let at = 0;
  for (const [i, w] of weights.entries()) {
    const entry = entries[i]!;
    if (entry.offset > at) yield new Uint8Array(entry.offset - at);
    yield encodeWeight(w.data, entry.dtype);
    at = entry.offset + entry.length;
  }
}

// Packs tensors into one little-endian buffer laid out by layoutWeights (same refusals).
export function packWeights(
  weights: readonly WeightTensor[],
  dtype: keyof typeof DTYPE_BYTES,
): PackedWeights {
  const { entries, bytes: size } = layoutWeights(weights, dtype);
  const bytes = new Uint8Array(size);
  for (const [i, w] of weights.entries()) bytes.set(encodeWeight(w.data, dtype), entries[i]!.offset);
  return { bytes, entries };
}

// Slices the tensors back out of weights.bin. float32 entries are views on `bytes` (no copy, on the usual
// little-endian hosts); float16 entries are decoded to new Float32Arrays. Entries must already be validated.
export function unpackWeights(bytes: Uint8Array, entries: readonly WeightEntry[]): Map<string, WeightTensor> {
  const weights = new Map<string, WeightTensor>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const e of entries) {
    const start = bytes.byteOffset + e.offset;
    let data: Float32Array;
    if (e.dtype === 'float32') {
      const n = e.length / 4;
      if (LITTLE_ENDIAN_HOST && start % 4 === 0) data = new Float32Array(bytes.buffer, start, n);
      else data = Float32Array.from({ length: n }, (_, k) => view.getFloat32(e.offset + 4 * k, true));
    } else {
      const n = e.length / 2;
      const half =
        LITTLE_ENDIAN_HOST && start % 2 === 0
          ? new Uint16Array(bytes.buffer, start, n)
          : Uint16Array.from({ length: n }, (_, k) => view.getUint16(e.offset + 2 * k, true));
      data = decodeFloat16(half);
    }
    weights.set(e.name, { name: e.name, shape: [...e.shape], data });
  }
  return weights;
}

function alignUp(n: number): number {
  return Math.ceil(n / WEIGHT_ALIGNMENT_BYTES) * WEIGHT_ALIGNMENT_BYTES;
}
