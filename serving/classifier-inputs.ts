import { ServingError } from './serving-error.ts';
import type { ServingModel } from './serving-model.ts';

// Two texts read together (`[CLS] text [SEP] textPair [SEP]`).
export interface TextPair {
  text: string;
  textPair: string;
}

// One input of a request in any client shape: a text, or a pair of texts.
export type ClassifierInput = string | TextPair;

// The texts of a request for a model that reads single texts: a pair is a 400 naming what the model takes and,
// in the client's own shape (`singleShape`), how to send texts.
export function singleTexts(
  model: ServingModel,
  inputs: readonly ClassifierInput[],
  singleShape: string,
): string[] {
  return inputs.map((input, i) => {
    if (typeof input === 'string') return input;
    throw new ServingError(
      'INVALID_REQUEST',
      `input ${i} is a text pair, but model '${model.name}' reads single texts: send ${singleShape}`,
    );
  });
}
