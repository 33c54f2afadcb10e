import { z } from 'zod';
import { TokenizerError } from '../errors.ts';
import type { ModelInput } from '../model/task.ts';
import type { TokenRow } from '../model/token-batch.ts';
import type { Vocabulary } from './vocabulary.ts';

// How text becomes words before WordPiece: BERT-uncased defaults.
export const WordPieceTokenizerOptionsSchema = z
  .object({
    lowercase: z.boolean().default(true),
    // NFD, then drop combining marks (Unicode Mn): `café` -> `cafe`.
    stripAccents: z.boolean().default(true),
    // A longer word (in code points) becomes one [UNK], as in BERT.
    maxCharsPerWord: z.number().int().min(1).max(10_000).default(100),
  })
  .strict();
export type WordPieceTokenizerOptions = z.infer<typeof WordPieceTokenizerOptionsSchema>;

// Which wordpieces a row keeps when a text is longer than its budget.
export type Truncation = 'head' | 'head-tail';

// Per-call limits of encodeBatch: `maxTokens` counts [CLS] and [SEP] (both [SEP]s of a pair).
export interface EncodeBatchOptions {
  maxTokens: number;
  truncation: Truncation;
}

// The wordpieces of a text pair, each without [CLS] or [SEP].
export interface PairPieces {
  first: Int32Array;
  second: Int32Array;
}

// One row's wordpieces: a single text's, or a text pair's.
export type RowPieces = Int32Array | PairPieces;

// Token ids and attention mask, row-major [batch, tokens], padded to the longest row; fits a model's TokenBatch.
// A single text is `[CLS] a [SEP]`, a pair `[CLS] a [SEP] b [SEP]`.
export interface EncodedBatch {
  batch: number;
  tokens: number;
  ids: Int32Array; // [batch, tokens]
  mask: Int32Array; // [batch, tokens], 1 on real tokens, 0 on [PAD]
  // [batch, tokens]: 1 on a pair's second text and its [SEP], else 0; only when some row is a pair.
  typeIds?: Int32Array;
  lengths: number[]; // real tokens per row, [CLS] and [SEP] included
  truncated: boolean[]; // whether a row lost wordpieces to the budget
}

// One row ready to pack: its pieces after truncation.
interface PackedRow {
  ids: Int32Array;
  second?: Int32Array;
  truncated: boolean;
}

// Character classes, as bit flags.
const DROP = 1; // removed by BERT's text cleaning: NUL, U+FFFD, controls (Cc, Cf) other than \t \n \r
const SPACE = 2;
const CJK = 4; // an ideograph BERT isolates as its own word
const PUNCT = 8; // ASCII non-alphanumerics and Unicode P*: each is its own word
const MARK = 16; // a combining mark (Mn), dropped when stripping accents
const KNOWN = 128;

const CONTROL_OR_FORMAT = /^[\p{Cc}\p{Cf}\p{Cs}]$/u;
const SPACE_SEPARATOR = /^\p{Zs}$/u;
const PUNCTUATION = /^\p{P}$/u;
const NONSPACING_MARK = /^\p{Mn}$/u;

// The CJK Unified Ideograph blocks BERT's tokenizer spaces out (not Hangul, Hiragana or Katakana).
function isCjkIdeograph(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

function classify(cp: number): number {
  const char = String.fromCodePoint(cp);
  let flags = KNOWN;
  if (cp === 9 || cp === 10 || cp === 13 || cp === 32 || cp === 0x2028 || cp === 0x2029) {
    // \u2028 and \u2029 survive BERT's cleaning but Python's str.split() splits on them.
    flags |= SPACE;
  } else if (cp === 0 || cp === 0xfffd || CONTROL_OR_FORMAT.test(char)) {
    // Lone surrogates (Cs) are dropped too: they cannot come from valid UTF-8.
    flags |= DROP;
  } else if (SPACE_SEPARATOR.test(char)) {
    flags |= SPACE;
  }
  if (isCjkIdeograph(cp)) flags |= CJK;
  // BERT counts every non-alphanumeric ASCII character as punctuation (`$`, `+`, `^`, `` ` ``...).
  if (
    (cp >= 33 && cp <= 47) ||
    (cp >= 58 && cp <= 64) ||
    (cp >= 91 && cp <= 96) ||
    (cp >= 123 && cp <= 126)
  ) {
    flags |= PUNCT;
  } else if (cp > 127 && PUNCTUATION.test(char)) {
    flags |= PUNCT;
  }
  if (NONSPACING_MARK.test(char)) flags |= MARK;
  return flags;
}

// Lazily filled: the Unicode regexes run once per distinct code point.
const BMP_FLAGS = new Uint8Array(0x10000);
const ASTRAL_FLAGS = new Map<number, number>();
for (let cp = 0; cp < 128; cp++) BMP_FLAGS[cp] = classify(cp);

function flagsOf(cp: number): number {
  if (cp < 0x10000) {
    let flags = BMP_FLAGS[cp]!;
    if (flags === 0) {
      flags = classify(cp);
      BMP_FLAGS[cp] = flags;
    }
    return flags;
  }
  let flags = ASTRAL_FLAGS.get(cp);
  if (flags === undefined) {
    flags = classify(cp);
    ASTRAL_FLAGS.set(cp, flags);
  }
  return flags;
}

// The code point at i: a surrogate pair's value, or the lone UTF-16 unit.
function codePointAt(text: string, i: number, unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
    const low = text.charCodeAt(i + 1);
    if (low >= 0xdc00 && low <= 0xdfff) return (unit - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
  }
  return unit;
}

// Chunks of about this many UTF-16 units, cut at whitespace, so `head` truncation can stop early.
const CHUNK_UNITS = 16_384;
// Truncation reads this many times the pieces it keeps from a text's start before reading its tail from a suffix
// instead; in chunks of about UNITS_PER_PIECE units per piece wanted (English averages 4 to 5), at least
// MIN_CHUNK_UNITS, so that the text past them is not cleaned and lower-cased for nothing.
const SCAN_AHEAD = 2;
const UNITS_PER_PIECE = 8;
const MIN_CHUNK_UNITS = 1024;
const MAX_CACHED_WORDS = 50_000;

// Called with each wordpiece id in order; returns false to stop.
type IdSink = (id: number) => boolean;

// BERT's WordPiece tokenizer (basic tokenization, then greedy longest-match-first) over a Vocabulary.
export class WordPieceTokenizer {
  readonly vocabulary: Vocabulary;
  readonly options: Readonly<WordPieceTokenizerOptions>;
  // Pieces by text without `##`: those that may start a word, and continuations.
  private readonly starts = new Map<string, number>();
  private readonly continuations = new Map<string, number>();
  private readonly maxStartUnits: number;
  private readonly maxContinuationUnits: number;
  private readonly cache = new Map<string, readonly number[]>();
  private readonly unk: readonly number[];
  private readonly specialIds: ReadonlySet<number>;

  constructor(vocabulary: Vocabulary, options: Partial<WordPieceTokenizerOptions> = {}) {
    const parsed = WordPieceTokenizerOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new TokenizerError(
        'INVALID_TOKENIZER_OPTIONS',
        `invalid tokenizer options: ${parsed.error.message}`,
        {
          cause: parsed.error,
        },
      );
    }
    this.vocabulary = vocabulary;
    this.options = Object.freeze(parsed.data);
    let maxStart = 0;
    let maxContinuation = 0;
    for (let id = 0; id < vocabulary.size; id++) {
      const token = vocabulary.tokenOf(id)!;
      if (token.startsWith('##') && token.length > 2) {
        const piece = token.slice(2);
        this.continuations.set(piece, id);
        maxContinuation = Math.max(maxContinuation, piece.length);
      } else {
        this.starts.set(token, id);
        maxStart = Math.max(maxStart, token.length);
      }
    }
    this.maxStartUnits = maxStart;
    this.maxContinuationUnits = maxContinuation;
    this.unk = [vocabulary.unkId];
    this.specialIds = new Set([vocabulary.padId, vocabulary.clsId, vocabulary.sepId]);
  }

  // The wordpieces of a text, as vocabulary tokens (`##` on continuations); no [CLS] or [SEP].
  tokenize(text: string): string[] {
    const tokens: string[] = [];
    this.scan(text, (id) => {
      tokens.push(this.vocabulary.tokenOf(id)!);
      return true;
    });
    return tokens;
  }

  // The wordpiece ids of a text; no [CLS] or [SEP], no truncation.
  encode(text: string): Int32Array {
    const ids: number[] = [];
    this.scan(text, (id) => {
      ids.push(id);
      return true;
    });
    return Int32Array.from(ids);
  }

  // Encodes inputs as `[CLS] pieces [SEP] [PAD]...` rows (`[CLS] a [SEP] b [SEP] [PAD]...` for a pair), padded
  // to the longest row; throws on an empty batch. A pair longer than its budget loses pieces from its longer
  // text first, each text truncated as a single text is.
  encodeBatch(inputs: readonly ModelInput[], options: EncodeBatchOptions): EncodedBatch {
    checkOptions(options, inputs.length);
    return this.pack(
      inputs.map((input): PackedRow => {
        if (typeof input === 'string') {
          const { headBudget, tailBudget } = splitBudget(options.maxTokens - 2, options.truncation);
          return this.truncatedIds(input, headBudget, tailBudget);
        }
        // Each text first to what it could keep beside an empty partner, then the pair to its budget.
        const { headBudget, tailBudget } = splitBudget(pairBudget(options.maxTokens), options.truncation);
        const first = this.truncatedIds(input.text, headBudget, tailBudget);
        const second = this.truncatedIds(input.textPair, headBudget, tailBudget);
        const row = truncatePair(first.ids, second.ids, options);
        return { ...row, truncated: row.truncated || first.truncated || second.truncated };
      }),
    );
  }

  // The same rows from wordpieces encoded earlier (`encode`), truncated by the same rule: training encodes
  // each text once and packs it at many lengths. `rowMaxTokens` caps each row on its own, below
  // `options.maxTokens` (one engine call serving requests read at different lengths); rows are padded to the
  // longest either way.
  packPieces(
    pieces: readonly RowPieces[],
    options: EncodeBatchOptions,
    rowMaxTokens?: readonly number[],
  ): EncodedBatch {
    checkOptions(options, pieces.length);
    if (rowMaxTokens !== undefined && rowMaxTokens.length !== pieces.length) {
      throw new TokenizerError(
        'INVALID_TOKENIZER_OPTIONS',
        `rowMaxTokens must hold one cap per row (${pieces.length}), got ${rowMaxTokens.length}`,
      );
    }
    return this.pack(
      pieces.map((row, r) => {
        const rowOptions =
          rowMaxTokens === undefined
            ? options
            : { ...options, maxTokens: Math.min(options.maxTokens, rowMaxTokens[r]!) };
        if (row instanceof Int32Array) {
          const kept = truncateText(row, rowOptions.maxTokens - 2, rowOptions.truncation);
          return { ids: kept, truncated: kept.length < row.length };
        }
        return truncatePair(row.first, row.second, rowOptions);
      }),
    );
  }

  private pack(rows: readonly PackedRow[]): EncodedBatch {
    let tokens = 0;
    let pairs = false;
    for (const row of rows) {
      tokens = Math.max(tokens, rowLength(row));
      if (row.second !== undefined) pairs = true;
    }
    const batch = rows.length;
    const ids = new Int32Array(batch * tokens).fill(this.vocabulary.padId); // [batch, tokens]
    const mask = new Int32Array(batch * tokens); // [batch, tokens]
    const typeIds = pairs ? new Int32Array(batch * tokens) : undefined; // [batch, tokens]
    const lengths: number[] = [];
    const truncated: boolean[] = [];
    for (let r = 0; r < batch; r++) {
      const row = rows[r]!;
      const offset = r * tokens;
      const length = rowLength(row);
      ids[offset] = this.vocabulary.clsId;
      ids.set(row.ids, offset + 1);
      ids[offset + row.ids.length + 1] = this.vocabulary.sepId;
      if (row.second !== undefined) {
        ids.set(row.second, offset + row.ids.length + 2);
        ids[offset + length - 1] = this.vocabulary.sepId;
        typeIds!.fill(1, offset + row.ids.length + 2, offset + length);
      }
      mask.fill(1, offset, offset + length);
      lengths.push(length);
      truncated.push(row.truncated);
    }
    return { batch, tokens, ids, mask, ...(typeIds && { typeIds }), lengths, truncated };
  }

  // Joins wordpieces back into text for debugging: `##` pieces glue on, [PAD] [CLS] [SEP] are dropped.
  decode(ids: ArrayLike<number>): string {
    let text = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const token = this.vocabulary.tokenOf(id);
      if (token === undefined) {
        throw new TokenizerError(
          'INVALID_INPUT',
          `token id ${id} is outside the vocabulary [0, ${this.vocabulary.size})`,
        );
      }
      if (this.specialIds.has(id)) continue;
      if (token.startsWith('##') && token.length > 2) text += token.slice(2);
      else text += text.length === 0 ? token : ' ' + token;
    }
    return text;
  }

  // What a model reading at most `maxTokens` tokens ([CLS] and [SEP] included) can see of a text: its wordpiece
  // ids when they fit, else the first and last ones `truncation` keeps at that length, which are also the ones
  // any shorter length keeps (packPieces truncates them further). A long text costs its two ends, not its length.
  // Of a pair, each text's ends as it could be read beside an empty partner: packPieces then cuts the pair
  // exactly as it would cut the full encodings.
  encodeEnds(input: string, options: EncodeBatchOptions): Int32Array;
  encodeEnds(input: ModelInput, options: EncodeBatchOptions): RowPieces;
  encodeEnds(input: ModelInput, options: EncodeBatchOptions): RowPieces {
    checkOptions(options, 1);
    if (typeof input === 'string') {
      const { headBudget, tailBudget } = splitBudget(options.maxTokens - 2, options.truncation);
      return this.truncatedIds(input, headBudget, tailBudget).ids;
    }
    const { headBudget, tailBudget } = splitBudget(pairBudget(options.maxTokens), options.truncation);
    return {
      first: this.truncatedIds(input.text, headBudget, tailBudget).ids,
      second: this.truncatedIds(input.textPair, headBudget, tailBudget).ids,
    };
  }

  // The first headBudget and last tailBudget wordpiece ids of a text. The text is read from its start, the tail
  // kept in a ring buffer, until it ends or SCAN_AHEAD x (head + tail) pieces have gone by; the tail of a text
  // longer than that is read from a suffix instead (cut at ASCII whitespace, which always separates words).
  private truncatedIds(
    text: string,
    headBudget: number,
    tailBudget: number,
  ): { ids: Int32Array; truncated: boolean } {
    const head = new Int32Array(headBudget);
    const ring = new Int32Array(tailBudget);
    const limit = SCAN_AHEAD * (headBudget + tailBudget);
    let total = 0;
    const chunkUnits = Math.min(CHUNK_UNITS, Math.max(MIN_CHUNK_UNITS, limit * UNITS_PER_PIECE));
    this.scan(
      text,
      (id) => {
        if (total < headBudget) head[total] = id;
        else if (tailBudget > 0) ring[(total - headBudget) % tailBudget] = id;
        total++;
        // With no tail to fill, one piece past the head proves truncation.
        return tailBudget > 0 ? total <= limit : total <= headBudget;
      },
      chunkUnits,
    );
    if (total <= headBudget + tailBudget) {
      const ids = new Int32Array(total);
      ids.set(head.subarray(0, Math.min(total, headBudget)));
      for (let k = headBudget; k < total; k++) ids[k] = ring[(k - headBudget) % tailBudget]!;
      return { ids, truncated: false };
    }
    const ids = new Int32Array(headBudget + tailBudget);
    ids.set(head);
    if (tailBudget > 0 && total > limit) {
      // The scan stopped early: the tail comes from a suffix, or (no whitespace to cut at) the whole text after all.
      ids.set(this.suffixIds(text, tailBudget) ?? this.lastIds(text, tailBudget), headBudget);
    } else {
      const firstTail = total - tailBudget;
      for (let k = 0; k < tailBudget; k++)
        ids[headBudget + k] = ring[(firstTail + k - headBudget) % tailBudget]!;
    }
    return { ids, truncated: true };
  }

  // The last `count` (> 0) wordpiece ids of a text that has more, read through a ring buffer.
  private lastIds(text: string, count: number): Int32Array {
    const ring = new Int32Array(count);
    let total = 0;
    this.scan(text, (id) => {
      ring[total++ % count] = id;
      return true;
    });
    const ids = new Int32Array(count);
    for (let k = 0; k < count; k++) ids[k] = ring[(total - count + k) % count]!;
    return ids;
  }

  // The last `count` wordpiece ids of a text that has more, from ever longer suffixes starting at ASCII
  // whitespace; undefined when no such suffix short of the whole text holds them.
  private suffixIds(text: string, count: number): Int32Array | undefined {
    for (let window = Math.max(MIN_CHUNK_UNITS, count * UNITS_PER_PIECE); window < text.length; window *= 2) {
      const cut = indexOfAsciiSpace(text, text.length - window);
      if (cut === -1) continue;
      const ids = this.encode(text.slice(cut));
      if (ids.length >= count) return ids.subarray(ids.length - count);
    }
    return undefined;
  }

  // Feeds the text's wordpiece ids to sink, chunk by chunk, until the text ends or sink returns false.
  private scan(text: string, sink: IdSink, chunkUnits = CHUNK_UNITS): void {
    let start = 0;
    while (start < text.length) {
      let end = text.length;
      if (end - start > chunkUnits) {
        // ASCII whitespace always separates words in BERT, so a cut there changes nothing.
        const cut = indexOfAsciiSpace(text, start + chunkUnits);
        if (cut !== -1) end = cut;
      }
      if (!this.scanChunk(text.slice(start, end), sink)) return;
      start = end;
    }
  }

  // Basic tokenization of one chunk: clean, space out CJK, lower-case, strip accents, split; then WordPiece.
  private scanChunk(chunk: string, sink: IdSink): boolean {
    let normalized = cleanText(chunk);
    if (this.options.lowercase) normalized = normalized.toLowerCase();
    const stripAccents = this.options.stripAccents;
    if (stripAccents) normalized = normalized.normalize('NFD');
    // Word in progress: `pending` (text before dropped marks) + normalized[wordStart, i).
    let pending = '';
    let wordStart = -1;
    const n = normalized.length;
    for (let i = 0; i < n; ) {
      const unit = normalized.charCodeAt(i);
      const cp = unit < 128 ? unit : codePointAt(normalized, i, unit);
      const width = cp > 0xffff ? 2 : 1;
      const flags = unit < 128 ? BMP_FLAGS[unit]! : flagsOf(cp);
      if ((flags & (SPACE | PUNCT)) !== 0 || (stripAccents && (flags & MARK) !== 0)) {
        if ((flags & (SPACE | PUNCT)) !== 0) {
          if (wordStart !== -1 || pending !== '') {
            const word = wordStart === -1 ? pending : pending + normalized.slice(wordStart, i);
            if (!this.emitWord(word, sink)) return false;
            pending = '';
            wordStart = -1;
          }
          if ((flags & PUNCT) !== 0 && !this.emitWord(normalized.slice(i, i + width), sink)) return false;
        } else if (wordStart !== -1) {
          // A dropped mark inside a word: keep the text before it.
          pending += normalized.slice(wordStart, i);
          wordStart = -1;
        }
      } else if (wordStart === -1) {
        wordStart = i;
      }
      i += width;
    }
    if (wordStart !== -1 || pending !== '') {
      const word = wordStart === -1 ? pending : pending + normalized.slice(wordStart);
      if (!this.emitWord(word, sink)) return false;
    }
    return true;
  }

  private emitWord(word: string, sink: IdSink): boolean {
    for (const id of this.wordPieces(word)) {
      if (!sink(id)) return false;
    }
    return true;
  }

  // Greedy longest-match-first WordPiece of one word; [UNK] for a word too long or with no full match.
  private wordPieces(word: string): readonly number[] {
    const maxChars = this.options.maxCharsPerWord;
    if (word.length > maxChars && (word.length > 2 * maxChars || countCodePoints(word) > maxChars)) {
      return this.unk;
    }
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const pieces: number[] = [];
    let start = 0;
    while (start < word.length) {
      const table = start === 0 ? this.starts : this.continuations;
      // No piece is longer than the longest in the vocabulary, so longer candidates are skipped.
      let end = Math.min(word.length, start + (start === 0 ? this.maxStartUnits : this.maxContinuationUnits));
      let id: number | undefined;
      while (end > start) {
        id = table.get(word.slice(start, end));
        if (id !== undefined) break;
        end--;
      }
      if (id === undefined) {
        pieces.length = 0;
        pieces.push(this.vocabulary.unkId);
        break;
      }
      pieces.push(id);
      start = end;
    }
    if (this.cache.size >= MAX_CACHED_WORDS) this.cache.clear();
    this.cache.set(word, pieces);
    return pieces;
  }
}

// BERT's text cleaning plus CJK spacing: drops controls, maps whitespace to ' ', surrounds ideographs by spaces.
function cleanText(text: string): string {
  let out = '';
  let runStart = 0;
  const n = text.length;
  for (let i = 0; i < n; ) {
    const unit = text.charCodeAt(i);
    if (unit < 128 && (unit === 32 || (BMP_FLAGS[unit]! & (DROP | SPACE)) === 0)) {
      i++;
      continue;
    }
    const cp = unit < 128 ? unit : codePointAt(text, i, unit);
    const width = cp > 0xffff ? 2 : 1;
    const flags = unit < 128 ? BMP_FLAGS[unit]! : flagsOf(cp);
    if ((flags & (DROP | SPACE | CJK)) !== 0) {
      out += text.slice(runStart, i);
      if ((flags & SPACE) !== 0) out += ' ';
      else if ((flags & CJK) !== 0) out += ' ' + text.slice(i, i + width) + ' ';
      runStart = i + width;
    }
    i += width;
  }
  return runStart === 0 ? text : out + text.slice(runStart);
}

function indexOfAsciiSpace(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit === 32 || unit === 10 || unit === 9 || unit === 13) return i;
  }
  return -1;
}

function countCodePoints(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0xdc00 || unit > 0xdfff || i === 0 || !isHighSurrogate(text.charCodeAt(i - 1))) count++;
  }
  return count;
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

// One row as a model reads it: `[CLS] a [SEP]` (or `[CLS] a [SEP] b [SEP]` with token types 1 on b and its
// [SEP]), the wordpieces (from `encode` or `encodeEnds`) cut to `options.maxTokens` (which counts [CLS] and
// [SEP]) by the truncation rule; the same row packPieces builds.
export function frameRow(
  pieces: RowPieces,
  options: EncodeBatchOptions,
  specials: { clsId: number; sepId: number },
): TokenRow {
  checkOptions(options, 1);
  const row: PackedRow =
    pieces instanceof Int32Array
      ? { ids: truncateText(pieces, options.maxTokens - 2, options.truncation), truncated: false }
      : truncatePair(pieces.first, pieces.second, options);
  const first = row.ids;
  const length = rowLength(row);
  const ids = new Int32Array(length);
  ids[0] = specials.clsId;
  ids.set(first, 1);
  ids[first.length + 1] = specials.sepId;
  if (row.second === undefined) return { ids };
  ids.set(row.second, first.length + 2);
  ids[length - 1] = specials.sepId;
  return { ids, typeIds: new Int32Array(length).fill(1, first.length + 2) };
}

// Validates the options and the batch size.
function checkOptions(options: EncodeBatchOptions, batch: number): void {
  const { maxTokens, truncation } = options;
  if (!Number.isInteger(maxTokens) || maxTokens < 2) {
    throw new TokenizerError(
      'INVALID_TOKENIZER_OPTIONS',
      `maxTokens must be an integer of at least 2 ([CLS] and [SEP]), got ${maxTokens}`,
    );
  }
  if (truncation !== 'head' && truncation !== 'head-tail') {
    throw new TokenizerError(
      'INVALID_TOKENIZER_OPTIONS',
      `truncation must be 'head' or 'head-tail', got ${String(truncation)}`,
    );
  }
  // A model cannot run on zero rows; an empty batch here is a caller bug, not a request to serve.
  if (batch === 0) throw new TokenizerError('INVALID_INPUT', 'encodeBatch needs at least one text');
}

// Wordpiece budgets of a text's head and tail when it keeps `budget` pieces.
function splitBudget(budget: number, truncation: Truncation): { headBudget: number; tailBudget: number } {
  const headBudget = truncation === 'head' ? budget : Math.ceil(budget / 2);
  return { headBudget, tailBudget: budget - headBudget };
}

// The wordpieces a pair's two texts share at `maxTokens`: all but [CLS] and two [SEP].
function pairBudget(maxTokens: number): number {
  if (maxTokens < 3) {
    throw new TokenizerError(
      'INVALID_TOKENIZER_OPTIONS',
      `maxTokens must be at least 3 for a text pair ([CLS] and two [SEP]), got ${maxTokens}`,
    );
  }
  return maxTokens - 3;
}

// A text's pieces cut to `budget` by `truncation` (head, or head and tail with the middle dropped).
function truncateText(ids: Int32Array, budget: number, truncation: Truncation): Int32Array {
  if (ids.length <= budget) return ids;
  const { headBudget, tailBudget } = splitBudget(budget, truncation);
  return concatIds(ids.subarray(0, headBudget), ids.subarray(ids.length - tailBudget));
}

// How many pieces each text of a pair keeps of `budget`: the longer text loses pieces first, one at a time,
// until both fit (on a tie the second loses), as Hugging Face's `longest_first`. In closed form: the shorter
// keeps all it has up to half the budget (the first text the larger half), the longer the rest.
export function pairKeep(first: number, second: number, budget: number): [number, number] {
  if (first + second <= budget) return [first, second];
  if (first <= second) {
    const keepFirst = Math.min(first, Math.ceil(budget / 2));
    return [keepFirst, budget - keepFirst];
  }
  const keepSecond = Math.min(second, Math.floor(budget / 2));
  return [budget - keepSecond, keepSecond];
}

// A pair's pieces cut to what `maxTokens` holds, each text by `truncation`.
function truncatePair(first: Int32Array, second: Int32Array, options: EncodeBatchOptions): PackedRow {
  const [keepFirst, keepSecond] = pairKeep(first.length, second.length, pairBudget(options.maxTokens));
  return {
    ids: truncateText(first, keepFirst, options.truncation),
    second: truncateText(second, keepSecond, options.truncation),
    truncated: keepFirst < first.length || keepSecond < second.length,
  };
}

// Real tokens of a packed row: [CLS] a [SEP], or [CLS] a [SEP] b [SEP].
function rowLength(row: PackedRow): number {
  return row.second === undefined ? row.ids.length + 2 : row.ids.length + row.second.length + 3;
}

function concatIds(a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
