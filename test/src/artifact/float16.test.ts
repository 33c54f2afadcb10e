import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeFloat16,
  encodeFloat16,
  fromFloat16Bits,
  toFloat16Bits,
} from '../../../src/artifact/float16.ts';

// The float32 just above and just below a value (both are exact float32 neighbours).
function nextUp(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = x >= 0 ? u[0]! + 1 : u[0]! - 1;
  return f[0]!;
}
function nextDown(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = x > 0 ? u[0]! - 1 : u[0]! + 1;
  return f[0]!;
}

describe('float16', () => {
  it('round-trips every non-NaN bit pattern exactly', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const nanBits = (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
      if (nanBits) continue;
      assert.equal(toFloat16Bits(fromFloat16Bits(bits)), bits, `bits 0x${bits.toString(16)}`);
    }
  });

  it('decodes known values', () => {
    assert.equal(fromFloat16Bits(0x3c00), 1);
    assert.equal(fromFloat16Bits(0xc000), -2);
    assert.equal(fromFloat16Bits(0x7bff), 65504);
    assert.equal(fromFloat16Bits(0x0400), 2 ** -14);
    assert.equal(fromFloat16Bits(0x0001), 2 ** -24);
    assert.equal(fromFloat16Bits(0x03ff), 1023 * 2 ** -24);
    assert.equal(fromFloat16Bits(0x7c00), Number.POSITIVE_INFINITY);
    assert.equal(fromFloat16Bits(0xfc00), Number.NEGATIVE_INFINITY);
    assert.ok(Object.is(fromFloat16Bits(0x8000), -0));
    assert.ok(Number.isNaN(fromFloat16Bits(0x7e00)));
    assert.ok(Number.isNaN(fromFloat16Bits(0xfc01)));
  });

  it('encodes known values', () => {
    assert.equal(toFloat16Bits(1 / 3), 0x3555);
    assert.equal(toFloat16Bits(0.1), 0x2e66);
    assert.equal(toFloat16Bits(-0), 0x8000);
    assert.equal(toFloat16Bits(Number.POSITIVE_INFINITY), 0x7c00);
    assert.equal(toFloat16Bits(Number.NEGATIVE_INFINITY), 0xfc00);
    const nan = toFloat16Bits(Number.NaN);
    assert.equal(nan & 0x7c00, 0x7c00);
    assert.notEqual(nan & 0x3ff, 0, 'NaN must not become Infinity');
  });

  it('rounds every midpoint between neighbours to the even one, and near-midpoints to the nearer', () => {
    // Positive finite neighbours lo < hi (including subnormals and the step into Infinity).
    for (let lo = 0; lo < 0x7c00; lo++) {
      const hi = lo + 1;
      // Past 65504 the next step would be 65536 had the exponent room; Infinity takes its place.
      const hiValue = hi === 0x7c00 ? 65536 : fromFloat16Bits(hi);
      const midpoint = (fromFloat16Bits(lo) + hiValue) / 2;
      const even = lo % 2 === 0 ? lo : hi;
      assert.equal(toFloat16Bits(midpoint), even, `midpoint of 0x${lo.toString(16)}`);
      assert.equal(toFloat16Bits(-midpoint), even | 0x8000, `negative midpoint of 0x${lo.toString(16)}`);
      assert.equal(toFloat16Bits(nextDown(midpoint)), lo, `below the midpoint of 0x${lo.toString(16)}`);
      assert.equal(toFloat16Bits(nextUp(midpoint)), hi, `above the midpoint of 0x${lo.toString(16)}`);
    }
  });

  it('handles overflow, underflow and the subnormal boundary', () => {
    assert.equal(toFloat16Bits(65504), 0x7bff);
    assert.equal(toFloat16Bits(65519.99), 0x7bff);
    assert.equal(toFloat16Bits(65520), 0x7c00, 'a tie with the odd 65504 rounds up to Infinity');
    assert.equal(toFloat16Bits(1e6), 0x7c00);
    assert.equal(toFloat16Bits(-1e6), 0xfc00);
    assert.equal(toFloat16Bits(2 ** -25), 0x0000, 'half the smallest subnormal ties to even zero');
    assert.equal(toFloat16Bits(nextUp(2 ** -25)), 0x0001);
    assert.equal(toFloat16Bits(-(2 ** -26)), 0x8000, 'underflow keeps the sign');
    assert.equal(toFloat16Bits(1e-30), 0x0000);
    assert.equal(toFloat16Bits(3 * 2 ** -25), 0x0002, 'tie between subnormals 1 and 2 goes to even 2');
    assert.equal(
      toFloat16Bits(1023.5 * 2 ** -24),
      0x0400,
      'largest subnormal rounds up into the smallest normal',
    );
  });

  it('encodes and decodes arrays', () => {
    const values = new Float32Array([0, -0, 1, -1.5, 0.1, 65504, 2 ** -24, 3.3]);
    const decoded = decodeFloat16(encodeFloat16(values));
    assert.equal(decoded.length, values.length);
    values.forEach((v, i) => {
      const tolerance = Math.abs(v) * 2 ** -11 + 2 ** -25;
      assert.ok(Math.abs(decoded[i]! - v) <= tolerance, `index ${i}: ${decoded[i]} vs ${v}`);
    });
    assert.ok(Object.is(decoded[1], -0));
  });
});
