import { z } from 'zod';

// What a model reads per example: one text, or a pair of texts packed `[CLS] text [SEP] textPair [SEP]`.
export const InputKindSchema = z.enum(['single', 'pair']);
export type InputKind = z.infer<typeof InputKindSchema>;

// Two texts read together (a question and an answer, a premise and a hypothesis): token types 0 and 1.
export interface TextPair {
  text: string;
  textPair: string;
}

// One input to a model: a string for a single-text model, a TextPair for a pair model.
export type ModelInput = string | TextPair;

// The kind of input a value is.
export function inputKindOf(input: ModelInput): InputKind {
  return typeof input === 'string' ? 'single' : 'pair';
}
