// IEEE 754 binary16 conversion (Node 20 has no Float16Array): round to nearest, ties to even, with
// subnormals, signed zeros, infinities and NaN.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

// The binary16 bits nearest to a number (first rounded to float32, as a Float32Array would store it).
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    // Infinity keeps a zero mantissa; NaN keeps its top payload bits and stays quiet (never becomes Infinity).
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const halfExp = exp - 112; // rebias: 127 -> 15
  if (halfExp >= 31) return sign | 0x7c00;
  if (halfExp <= 0) {
    // Below 2^-25 (or exactly 2^-25, a tie that goes to the even 0) everything rounds to a signed zero.
    if (halfExp < -10) return sign;
    const significand = mant | 0x800000; // 24 bits, the implicit 1 made explicit
    const shift = 14 - halfExp; // 14..24: from float32 units to units of 2^-24
    let half = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half += 1; // may carry into the smallest normal
    return sign | half;
  }
  let bits = sign | (halfExp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa moves into the exponent, up to Infinity: exactly what rounding means here.
  if (rest > 0x1000 || (rest === 0x1000 && (bits & 1) === 1)) bits += 1;
  return bits;
}

// The number a binary16 bit pattern holds (exact: every binary16 value is a float32 value).
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

let decodeTable: Float32Array | undefined;

// Decodes packed binary16 values (one table lookup each: 65,536 entries, 256 KiB, built on first use).
export function decodeFloat16(bits: Uint16Array): Float32Array {
  if (!decodeTable) {
    decodeTable = new Float32Array(65536);
    for (let b = 0; b < 65536; b++) decodeTable[b] = fromFloat16Bits(b);
  }
  const table = decodeTable;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

// Encodes float32 values to binary16 bits (round to nearest even; values past 65504 become Infinity).
export function encodeFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toFloat16Bits(values[i]!);
  return out;
}
