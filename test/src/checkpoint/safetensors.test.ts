import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import {
  encodeSafetensors,
  MAX_HEADER_BYTES,
  readSafetensors,
  type SafetensorsDtype,
  type TensorToWrite,
} from '../../../src/checkpoint/safetensors.ts';
import { CheckpointError } from '../../../src/errors.ts';

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// The bytes as a stream of small, unaligned chunks (so every read spans chunk boundaries somewhere).
function streamOf(bytes: Uint8Array, chunk = 7): Readable {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  return Readable.from(parts);
}

// A file of the given header JSON and data bytes, with the length prefix.
function rawFile(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

async function read(bytes: Uint8Array, want?: (name: string) => boolean) {
  return readSafetensors(streamOf(bytes), bytes.length, 'model.safetensors', want);
}

async function refusal(bytes: Uint8Array, size = bytes.length): Promise<CheckpointError> {
  try {
    await readSafetensors(streamOf(bytes), size, 'model.safetensors');
  } catch (error) {
    assert.ok(error instanceof CheckpointError, `expected a CheckpointError, got ${error}`);
    assert.match(error.message, /^model\.safetensors: /);
    assert.doesNotMatch(error.message, /\n/);
    return error;
  }
  assert.fail('the file was accepted');
}

describe('safetensors', () => {
  const values = new Float32Array([0, 1, -2.5, 3.140625, 65504, -0.000061035156, 1e-3, 7]);
  for (const dtype of ['F32', 'F16', 'BF16'] as SafetensorsDtype[]) {
    it(`round-trips ${dtype} through the writer and the streamed reader`, async () => {
      const tensors: TensorToWrite[] = [
        { name: 'bert.embeddings.word_embeddings.weight', dtype, shape: [2, 4], data: values },
        { name: 'classifier.bias', dtype, shape: [2], data: new Float32Array([0.5, -0.5]) },
        { name: 'empty', dtype, shape: [0, 3], data: new Float32Array(0) },
      ];
      const { tensors: read_, header } = await read(concat(encodeSafetensors(tensors, { format: 'pt' })));
      assert.deepEqual(header.metadata, { format: 'pt' });
      assert.equal(header.dataStart % 8, 0);
      const emb = read_.get('bert.embeddings.word_embeddings.weight')!;
      assert.deepEqual(emb.shape, [2, 4]);
      // F32 exactly; F16 to its 11-bit significand; BF16 (truncated) to its 8-bit significand.
      const tolerance = dtype === 'F32' ? 0 : dtype === 'F16' ? 2 ** -11 : 2 ** -7;
      for (let i = 0; i < values.length; i++) {
        const expected = values[i]!;
        assert.ok(
          Math.abs(emb.data[i]! - expected) <= Math.abs(expected) * tolerance + (dtype === 'F32' ? 0 : 1e-7),
          `${dtype} value ${i}: ${emb.data[i]} for ${expected}`,
        );
      }
      assert.deepEqual([...read_.get('classifier.bias')!.data], [0.5, -0.5]);
      assert.equal(read_.get('empty')!.data.length, 0);
    });
  }

  it('skips tensors of other dtypes that are not asked for (int64 position_ids)', async () => {
    const file = rawFile(
      {
        'bert.embeddings.position_ids': { dtype: 'I64', shape: [1, 2], data_offsets: [0, 16] },
        w: { dtype: 'F32', shape: [1], data_offsets: [16, 20] },
      },
      20,
    );
    new DataView(file.buffer).setFloat32(file.length - 4, 2.5, true);
    const { tensors } = await read(file, (name) => !name.endsWith('position_ids'));
    assert.deepEqual([...tensors.get('w')!.data], [2.5]);
  });

  it('keeps only the tensors asked for, skipping the rest', async () => {
    const bytes = concat(
      encodeSafetensors([
        { name: 'a', dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) },
        { name: 'b', dtype: 'F32', shape: [1], data: new Float32Array([4]) },
      ]),
    );
    const { tensors } = await read(bytes, (name) => name === 'b');
    assert.deepEqual([...tensors.keys()], ['b']);
    assert.deepEqual([...tensors.get('b')!.data], [4]);
  });

  it('refuses malformed files in one line naming the file and the tensor', async () => {
    const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    assert.match((await refusal(new Uint8Array(5))).message, /too short/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES) + 1n, true);
    assert.match((await refusal(huge)).message, /header length/);
    const notJson = rawFile(ok, 8);
    notJson[9] = 0x7b; // '{' then '{' again
    assert.match((await refusal(notJson)).message, /not JSON/);
    assert.match((await refusal(rawFile([1, 2], 0))).message, /not a JSON object/);
    const cases: Array<[unknown, number, RegExp]> = [
      [{ a: { dtype: 'Q4', shape: [1], data_offsets: [0, 8] } }, 8, /tensor 'a': unknown dtype Q4/],
      [
        { a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } },
        8,
        /tensor 'a': dtype I64 is not supported/,
      ],
      [
        { a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } },
        8,
        /tensor 'a': shape \[3\] of F32 needs 12 bytes/,
      ],
      [{ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 8] } }, 8, /tensor 'a': shape/],
      [{ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, 8, /tensor 'a': data_offsets/],
      [
        { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } },
        4,
        /tensor 'a' ends at data byte 8, past the 4 bytes/,
      ],
      [{ ...ok, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8, /tensor 'b' overlaps/],
      [{ ...ok, b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] } }, 16, /tensor 'b' leaves a gap/],
      [ok, 12, /cover 8 bytes of data, the file holds 12/],
      [{ a: 'x' }, 0, /tensor 'a': not an object/],
      [{ __metadata__: { n: 1 } }, 0, /__metadata__\.n is not a string/],
    ];
    for (const [header, data, pattern] of cases) {
      const error = await refusal(rawFile(header, data));
      assert.match(error.message, pattern);
    }
  });

  it('refuses a stream shorter or longer than the size it was given', async () => {
    const bytes = concat(
      encodeSafetensors([{ name: 'a', dtype: 'F32', shape: [4], data: new Float32Array(4) }]),
    );
    assert.match((await refusal(bytes.subarray(0, bytes.length - 3), bytes.length)).message, /truncated/);
    const longer = concat([bytes, new Uint8Array(4)]);
    assert.match((await refusal(longer, bytes.length)).message, /more bytes than its size said/);
  });
});
