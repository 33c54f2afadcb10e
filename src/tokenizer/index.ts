// The tokenizer's public API: a BERT vocabulary and the WordPiece tokenizer that encodes batches for the model.
export { convertMarkedTokens, loadBertUncasedVocabulary, Vocabulary } from './vocabulary.ts';
export {
  type EncodeBatchOptions,
  type EncodedBatch,
  frameRow,
  type PairPieces,
  pairKeep,
  type RowPieces,
  type Truncation,
  WordPieceTokenizer,
  type WordPieceTokenizerOptions,
  WordPieceTokenizerOptionsSchema,
} from './word-piece-tokenizer.ts';
