// The tiny BERT checkpoint in test/fixtures/bert-tiny (Hugging Face layout) and the logits PyTorch computed for
// it (scripts/make-bert-reference.py).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const BERT_TINY = join(import.meta.dirname, '../fixtures/bert-tiny');

export interface ReferenceCase {
  text: string;
  text_pair?: string;
  ids: number[];
  types: number[];
  logits: number[];
}

export async function bertTinyReference(): Promise<ReferenceCase[]> {
  const parsed = JSON.parse(await readFile(join(BERT_TINY, 'reference.json'), 'utf8')) as {
    cases: ReferenceCase[];
  };
  return parsed.cases;
}
