import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TokenizerError } from '../../../src/errors.ts';
import { Rng } from '../../../src/model/random.ts';
import { padRows } from '../../../src/model/token-batch.ts';
import {
  frameRow,
  loadBertUncasedVocabulary,
  pairKeep,
  Vocabulary,
  WordPieceTokenizer,
} from '../../../src/tokenizer/index.ts';

const bert = new WordPieceTokenizer(loadBertUncasedVocabulary());
const CLS = 101;
const SEP = 102;
const UNK = 100;

function assertTokenizerError(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TokenizerError);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

describe('WordPieceTokenizer on a tiny vocabulary', () => {
  const tiny = new WordPieceTokenizer(
    Vocabulary.fromTokens([
      '[PAD]',
      '[UNK]',
      '[CLS]',
      '[SEP]',
      'un',
      '##aff',
      '##able',
      'runn',
      '##ing',
      'wa',
      'want',
      '##want',
      '##ed',
      ',',
    ]),
  );

  test('splits greedily, longest match first', () => {
    assert.deepEqual(tiny.tokenize('unaffable unwanted running'), [
      'un',
      '##aff',
      '##able',
      'un',
      '##want',
      '##ed',
      'runn',
      '##ing',
    ]);
    assert.deepEqual(Array.from(tiny.encode('UNwant,running')), [4, 11, 13, 7, 8]);
  });

  test('a word with an unmatched remainder is one [UNK], not a partial match', () => {
    assert.deepEqual(tiny.tokenize('unwantedx wa runs'), ['[UNK]', 'wa', '[UNK]']);
  });
});

describe('WordPieceTokenizer with bert-base-uncased', () => {
  const cases: Array<[string, string, string[], number[]]> = [
    [
      'a real sentence',
      'Hello, world! This movie was GREAT.',
      ['hello', ',', 'world', '!', 'this', 'movie', 'was', 'great', '.'],
      [7592, 1010, 2088, 999, 2023, 3185, 2001, 2307, 1012],
    ],
    // BERT's README shows `un ##aff ##able` for a toy vocabulary; the real uncased vocabulary splits differently.
    ['unaffable', 'unaffable', ['una', '##ffa', '##ble'], [14477, 20961, 3468]],
    [
      'the package README example',
      'i like strawberries',
      ['i', 'like', 'straw', '##berries'],
      [1045, 2066, 13137, 20968],
    ],
    ['accents', 'Café naïve résumé', ['cafe', 'naive', 'resume'], [7668, 15743, 13746]],
    [
      'punctuation',
      "don't!! ...",
      ['don', "'", 't', '!', '!', '.', '.', '.'],
      [2123, 1005, 1056, 999, 999, 1012, 1012, 1012],
    ],
    [
      'ASCII symbols count as punctuation',
      '$5+3^2=`x`',
      ['$', '5', '+', '3', '^', '2', '=', '`', 'x', '`'],
      [1002, 1019, 1009, 1017, 1034, 1016, 1027, 1036, 1060, 1036],
    ],
    [
      'simplified CJK: one word per ideograph, three not in the vocabulary',
      '我爱电影',
      ['我', '[UNK]', '[UNK]', '[UNK]'],
      [1855, UNK, UNK, UNK],
    ],
    ['traditional CJK', '我愛電影', ['我', '愛', '[UNK]', '[UNK]'], [1855, 1853, UNK, UNK]],
    ['CJK glued to latin', 'i爱movies', ['i', '[UNK]', 'movies'], [1045, UNK, 5691]],
    [
      'emoji: [UNK] unless in the vocabulary',
      '😀 I ❤ it 👍🏽 ♥ ★',
      ['[UNK]', 'i', '[UNK]', 'it', '[UNK]', '♥', '★'],
      [UNK, 1045, UNK, 2009, UNK, 1625, 1620],
    ],
    ['an emoji glued to a word makes the whole word [UNK]', 'great😀 film', ['[UNK]', 'film'], [UNK, 2143]],
    [
      'control, format and replacement characters are dropped',
      'a\u0000b\u0001c\u200bd\ufffde',
      ['abc', '##de'],
      [5925, 3207],
    ],
    [
      'tabs, newlines and unicode spaces separate words',
      'a\tb\nc\u00a0d\u3000e\u2028f',
      ['a', 'b', 'c', 'd', 'e', 'f'],
      [1037, 1038, 1039, 1040, 1041, 1042],
    ],
    [
      'mixed scripts, final sigma, Hangul decomposed to jamo',
      'Ünïcödé ΟΔΟΣ Москва 한',
      ['unicode', 'ο', '##δ', '##ος', 'м', '##о', '##с', '##к', '##в', '##а', 'ᄒ', '##ᅡ', '##ᆫ'],
      [27260, 1169, 29722, 15297, 1191, 14150, 29747, 23925, 25529, 10260, 1469, 30006, 30021],
    ],
    ['punctuation created by NFD (U+1FEF -> `)', 'a\u1fefb', ['a', '`', 'b'], [1037, 1036, 1038]],
    [
      'html line breaks',
      'great<br /><br />movie',
      ['great', '<', 'br', '/', '>', '<', 'br', '/', '>', 'movie'],
      [2307, 1026, 7987, 1013, 1028, 1026, 7987, 1013, 1028, 3185],
    ],
    [
      'dashes, curly quotes, ellipsis',
      'score—“sublime”…',
      ['score', '—', '“', 'sublime', '”', '…'],
      [3556, 1517, 1523, 28341, 1524, 1529],
    ],
    [
      'special tokens in text are plain text',
      '[CLS] [SEP]',
      ['[', 'cl', '##s', ']', '[', 'sep', ']'],
      [1031, 18856, 2015, 1033, 1031, 19802, 1033],
    ],
    ['empty', '', [], []],
    ['whitespace only', ' \t\n\r\u00a0\u3000 ', [], []],
    ['controls only', '\u0000\u0007\u200b', [], []],
  ];
  for (const [name, text, tokens, ids] of cases) {
    test(name, () => {
      assert.deepEqual(bert.tokenize(text), tokens);
      assert.deepEqual(Array.from(bert.encode(text)), ids);
    });
  }

  test('a word over maxCharsPerWord (code points, after accent stripping) is one [UNK]', () => {
    assert.deepEqual(bert.tokenize('x'.repeat(200)), ['[UNK]']);
    assert.deepEqual(bert.tokenize('x'.repeat(101)), ['[UNK]']);
    assert.deepEqual(bert.tokenize('x'.repeat(100)), ['xx', ...Array<string>(49).fill('##xx')]);
    // 249 code points before accent stripping, 99 after: BERT counts after, so this is not [UNK].
    assert.deepEqual(
      bert.tokenize('a' + '\u0301'.repeat(150) + 'b'.repeat(98)),
      bert.tokenize('a' + 'b'.repeat(98)),
    );
    assert.notDeepEqual(bert.tokenize('a' + 'b'.repeat(98)), ['[UNK]']);
    const short = new WordPieceTokenizer(loadBertUncasedVocabulary(), { maxCharsPerWord: 5 });
    assert.deepEqual(short.tokenize('movie movies'), ['movie', '[UNK]']);
  });

  test('html markup tokenizes deterministically', () => {
    const text = 'One of the best.<br /><br />I <b>loved</b> it &amp; you will too.';
    const first = Array.from(bert.encode(text));
    assert.deepEqual(Array.from(bert.encode(text)), first);
    assert.deepEqual(Array.from(new WordPieceTokenizer(loadBertUncasedVocabulary()).encode(text)), first);
    assert.equal(first.filter((id) => id === 7987).length, 2); // `br`
  });

  test('options can keep case and accents (nothing in the uncased vocabulary then matches)', () => {
    const cased = new WordPieceTokenizer(loadBertUncasedVocabulary(), {
      lowercase: false,
      stripAccents: false,
    });
    assert.deepEqual(cased.tokenize('Hello café hello'), ['[UNK]', '[UNK]', 'hello']);
    assert.equal(bert.options.maxCharsPerWord, 100);
  });

  test('rejects invalid options', () => {
    assertTokenizerError(
      () => new WordPieceTokenizer(loadBertUncasedVocabulary(), { maxCharsPerWord: 0 }),
      'INVALID_TOKENIZER_OPTIONS',
      /maxCharsPerWord/,
    );
  });

  test('ids are always in [0, vocabSize) for hard text', () => {
    const size = bert.vocabulary.size;
    let seed = 3;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const pool = [...'aZ9 \t\n!?.,\'"<>/éüßİΣς我爱愛😀👍🏽❤️♥\u0000\u200b\ufffd\u0301ﬁｆ한こМ\uD800'];
    for (let n = 0; n < 300; n++) {
      let text = '';
      for (let i = 0; i < 80; i++) text += pool[Math.floor(random() * pool.length)];
      const batch = bert.encodeBatch([text, text.toUpperCase()], { maxTokens: 64, truncation: 'head-tail' });
      for (const id of batch.ids) assert.ok(Number.isInteger(id) && id >= 0 && id < size, `id ${id}`);
      for (const id of bert.encode(text)) assert.ok(id >= 0 && id < size, `id ${id}`);
    }
  });

  test('results stay the same once the word cache has been cleared', () => {
    const text = 'The unaffable critic hated this movie.';
    const before = Array.from(bert.encode(text));
    const many = Array.from({ length: 60_000 }, (_, i) => `w${i.toString(36)}`).join(' ');
    assert.equal(bert.encode(many).length > 60_000, true);
    assert.deepEqual(Array.from(bert.encode(text)), before);
  });
});

describe('encodeBatch', () => {
  // one..ten are single wordpieces.
  const TEN = 'one two three four five six seven eight nine ten';
  const TEN_IDS = [2028, 2048, 2093, 2176, 2274, 2416, 2698, 2809, 3157, 2702];

  test('pads to the longest row, not to maxTokens, with a mask', () => {
    const batch = bert.encodeBatch(['the movie', '', 'The', '  \n '], { maxTokens: 512, truncation: 'head' });
    assert.equal(batch.batch, 4);
    assert.equal(batch.tokens, 4);
    assert.deepEqual(Array.from(batch.ids), [
      CLS,
      1996,
      3185,
      SEP,
      CLS,
      SEP,
      0,
      0,
      CLS,
      1996,
      SEP,
      0,
      CLS,
      SEP,
      0,
      0,
    ]);
    assert.deepEqual(Array.from(batch.mask), [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0]);
    assert.deepEqual(batch.lengths, [4, 2, 3, 2]);
    assert.deepEqual(batch.truncated, [false, false, false, false]);
  });

  test('head keeps the first maxTokens - 2 wordpieces', () => {
    const batch = bert.encodeBatch([TEN, 'one two'], { maxTokens: 7, truncation: 'head' });
    assert.equal(batch.tokens, 7);
    assert.deepEqual(Array.from(batch.ids), [
      CLS,
      ...TEN_IDS.slice(0, 5),
      SEP,
      CLS,
      2028,
      2048,
      SEP,
      0,
      0,
      0,
    ]);
    assert.deepEqual(batch.lengths, [7, 4]);
    assert.deepEqual(batch.truncated, [true, false]);
  });

  test('head-tail keeps the first half and the last half, the head taking the odd one', () => {
    const odd = bert.encodeBatch([TEN], { maxTokens: 7, truncation: 'head-tail' });
    assert.deepEqual(Array.from(odd.ids), [CLS, 2028, 2048, 2093, 3157, 2702, SEP]);
    assert.deepEqual(odd.truncated, [true]);
    const even = bert.encodeBatch([TEN], { maxTokens: 6, truncation: 'head-tail' });
    assert.deepEqual(Array.from(even.ids), [CLS, 2028, 2048, 3157, 2702, SEP]);
    const one = bert.encodeBatch([TEN], { maxTokens: 3, truncation: 'head-tail' });
    assert.deepEqual(Array.from(one.ids), [CLS, 2028, SEP]);
  });

  test('a text exactly at the budget is kept whole and not truncated', () => {
    for (const truncation of ['head', 'head-tail'] as const) {
      const batch = bert.encodeBatch([TEN], { maxTokens: 12, truncation });
      assert.deepEqual(Array.from(batch.ids), [CLS, ...TEN_IDS, SEP]);
      assert.deepEqual(batch.truncated, [false]);
      const under = bert.encodeBatch(['one two three'], { maxTokens: 12, truncation });
      assert.deepEqual(Array.from(under.ids), [CLS, 2028, 2048, 2093, SEP]);
    }
  });

  test('maxTokens 2 keeps only [CLS] [SEP]', () => {
    const batch = bert.encodeBatch(['movie', ''], { maxTokens: 2, truncation: 'head-tail' });
    assert.deepEqual(Array.from(batch.ids), [CLS, SEP, CLS, SEP]);
    assert.deepEqual(batch.truncated, [true, false]);
  });

  test('truncation of a long review matches slices of the full encoding', () => {
    const review =
      'An unforgettable, bittersweet film. '.repeat(40) + 'Naïve but 我爱 it! 😀 '.repeat(40) + 'The end.';
    const all = Array.from(bert.encode(review));
    assert.ok(all.length > 500);
    const head = bert.encodeBatch([review], { maxTokens: 128, truncation: 'head' });
    assert.deepEqual(Array.from(head.ids), [CLS, ...all.slice(0, 126), SEP]);
    const headTail = bert.encodeBatch([review], { maxTokens: 129, truncation: 'head-tail' });
    assert.deepEqual(Array.from(headTail.ids), [CLS, ...all.slice(0, 64), ...all.slice(-63), SEP]);
    assert.deepEqual(bert.decode(headTail.ids.subarray(headTail.ids.length - 4)), 'the end .');
  });

  test('a 1 MB text truncates the same as its full encoding (chunked, early stop for head)', () => {
    const big = 'Ünïcödé words, 我爱电影 and emoji 😀 <br /> '.repeat(25_000) + 'final sentence here';
    assert.ok(big.length > 1_000_000);
    const all = bert.encode(big);
    const head = bert.encodeBatch([big], { maxTokens: 512, truncation: 'head' });
    assert.deepEqual(Array.from(head.ids.subarray(1, 511)), Array.from(all.subarray(0, 510)));
    const headTail = bert.encodeBatch([big], { maxTokens: 512, truncation: 'head-tail' });
    assert.deepEqual(Array.from(headTail.ids.subarray(1, 256)), Array.from(all.subarray(0, 255)));
    assert.deepEqual(Array.from(headTail.ids.subarray(256, 511)), Array.from(all.subarray(all.length - 255)));
    assert.deepEqual(bert.decode(headTail.ids.subarray(508)), 'final sentence here');
  });

  test('rejects maxTokens below 2 or not an integer', () => {
    for (const maxTokens of [1, 0, -5, 2.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assertTokenizerError(
        () => bert.encodeBatch(['movie'], { maxTokens, truncation: 'head' }),
        'INVALID_TOKENIZER_OPTIONS',
        /maxTokens/,
      );
    }
  });

  test('rejects an unknown truncation', () => {
    assertTokenizerError(
      () => bert.encodeBatch(['movie'], { maxTokens: 8, truncation: 'tail' as 'head' }),
      'INVALID_TOKENIZER_OPTIONS',
      /truncation/,
    );
  });

  test('rejects an empty batch: running a model on zero texts is a caller bug', () => {
    assertTokenizerError(
      () => bert.encodeBatch([], { maxTokens: 8, truncation: 'head' }),
      'INVALID_INPUT',
      /at least one/,
    );
  });
});

describe('decode', () => {
  test('joins wordpieces and drops [CLS] [SEP] [PAD], keeping [UNK]', () => {
    const batch = bert.encodeBatch(["Unaffable movies, don't!", 'a'], { maxTokens: 32, truncation: 'head' });
    assert.equal(bert.decode(batch.ids.subarray(0, batch.tokens)), "unaffable movies , don ' t !");
    assert.equal(bert.decode(batch.ids.subarray(batch.tokens)), 'a');
    assert.equal(bert.decode(bert.encode('我爱 😀 strawberries')), '我 [UNK] [UNK] strawberries');
    assert.equal(bert.decode([]), '');
  });

  test('rejects an id outside the vocabulary', () => {
    assertTokenizerError(() => bert.decode([1996, 30522]), 'INVALID_INPUT', /30522/);
    assertTokenizerError(() => bert.decode([-1]), 'INVALID_INPUT', /-1/);
  });
});

describe('packPieces', () => {
  test('packs pre-encoded wordpieces exactly as encodeBatch encodes the texts, for both truncations', () => {
    const tokenizer = new WordPieceTokenizer(loadBertUncasedVocabulary());
    const texts = [
      'A short one.',
      'This movie was long, and the ending dragged on forever; still, the actors were wonderful. '.repeat(9),
      '',
      "Café naïve 我爱电影 😀 don't!!",
    ];
    for (const truncation of ['head', 'head-tail'] as const) {
      for (const maxTokens of [2, 3, 16, 17, 64, 512]) {
        const direct = tokenizer.encodeBatch(texts, { maxTokens, truncation });
        const packed = tokenizer.packPieces(
          texts.map((t) => tokenizer.encode(t)),
          { maxTokens, truncation },
        );
        assert.deepEqual(packed, direct, `${truncation} ${maxTokens}`);
      }
    }
  });

  test('cuts each row to its own cap and pads every row to the longest', () => {
    const tokenizer = new WordPieceTokenizer(loadBertUncasedVocabulary());
    const pieces = [
      'This movie was long, and the ending dragged on forever. '.repeat(6),
      'A short one.',
      'The actors were wonderful and the music was moving, start to finish. '.repeat(5),
    ].map((t) => tokenizer.encode(t));
    const caps = [16, 64, 40];
    for (const truncation of ['head', 'head-tail'] as const) {
      const packed = tokenizer.packPieces(pieces, { maxTokens: 64, truncation }, caps);
      assert.equal(packed.tokens, 40);
      pieces.forEach((row, r) => {
        const alone = tokenizer.packPieces([row], { maxTokens: caps[r]!, truncation });
        const length = alone.lengths[0]!;
        assert.equal(packed.lengths[r], length, `${truncation} row ${r}`);
        assert.equal(packed.truncated[r], alone.truncated[0]);
        assert.deepEqual(
          packed.ids.subarray(r * packed.tokens, r * packed.tokens + length),
          alone.ids.subarray(0, length),
        );
        assert.ok(
          packed.mask.subarray(r * packed.tokens + length, (r + 1) * packed.tokens).every((m) => m === 0),
        );
      });
    }
    // A cap above the batch's maxTokens is held to it; a cap list of the wrong length is refused.
    assert.equal(
      tokenizer.packPieces(pieces, { maxTokens: 16, truncation: 'head' }, [64, 64, 64]).tokens,
      16,
    );
    assert.throws(
      () => tokenizer.packPieces(pieces, { maxTokens: 64, truncation: 'head' }, [16]),
      /one cap per row \(3\), got 1/,
    );
  });
});

describe('frameRow', () => {
  test('frames each row as packPieces does, and padRows pads them to the same batch', () => {
    const tokenizer = new WordPieceTokenizer(loadBertUncasedVocabulary());
    const pieces = [
      'This movie was long, and the ending dragged on forever. '.repeat(6),
      'A short one.',
      '',
      'The actors were wonderful and the music was moving, start to finish. '.repeat(5),
    ].map((t) => tokenizer.encode(t));
    const caps = [16, 64, 2, 40];
    for (const truncation of ['head', 'head-tail'] as const) {
      const rows = pieces.map((row, r) =>
        frameRow(row, { maxTokens: caps[r]!, truncation }, tokenizer.vocabulary),
      );
      rows.forEach((row, r) => {
        const alone = tokenizer.packPieces([pieces[r]!], { maxTokens: caps[r]!, truncation });
        assert.deepEqual(row.ids, alone.ids.subarray(0, alone.lengths[0]), `${truncation} row ${r}`);
      });
      const packed = tokenizer.packPieces(pieces, { maxTokens: 64, truncation }, caps);
      const padded = padRows(rows, tokenizer.vocabulary.padId);
      assert.deepEqual(padded, {
        batch: packed.batch,
        tokens: packed.tokens,
        ids: packed.ids,
        mask: packed.mask,
      });
    }
    assert.throws(
      () => frameRow(pieces[0]!, { maxTokens: 1, truncation: 'head' }, tokenizer.vocabulary),
      /at least 2/,
    );
  });
});

describe('encodeEnds', () => {
  // Words, separators and characters that stress a cut: every whitespace BERT knows (ASCII and not), combining
  // marks after a space, a final sigma, CJK, emoji, controls, and runs without any ASCII whitespace.
  const WORDS = [
    'movie',
    'Naïve',
    'ΟΔΟΣ',
    'unbelievably',
    '我爱电影',
    '😀',
    "don't",
    'x\u0301',
    'ﬁlm',
    'A.B.C',
    '\u0000',
  ];
  const SEPARATORS = [' ', '  ', '\n', '\t', '\r\n', '\u3000', '\u00a0', ' \u0301', '', ', '];
  function randomText(rng: Rng, words: number): string {
    let text = '';
    for (let i = 0; i < words; i++) text += rng.pick(WORDS) + rng.pick(SEPARATORS);
    return text;
  }

  // The reference: slices of the full encoding.
  function expected(text: string, maxTokens: number, truncation: 'head' | 'head-tail'): number[] {
    const all = Array.from(bert.encode(text));
    const budget = maxTokens - 2;
    if (all.length <= budget) return all;
    const head = truncation === 'head' ? budget : Math.ceil(budget / 2);
    return [...all.slice(0, head), ...all.slice(all.length - (budget - head))];
  }

  test('equals slices of the full encoding, for texts short and long and every cut hazard', () => {
    const rng = new Rng(7);
    const texts = [
      '',
      'movie',
      ...Array.from({ length: 60 }, (_, i) => randomText(rng, 1 + rng.int(i < 30 ? 300 : 3000))),
      '我爱电影'.repeat(5_000), // no whitespace at all
      `${'我'.repeat(20_000)} ${'movie '.repeat(50)}`, // whitespace only near the end
      `${'movie '.repeat(500)}${'我'.repeat(20_000)}`, // none in the tail
      `${'great acting '.repeat(2_000)}\u3000${'爱'.repeat(3_000)}`, // only non-ASCII whitespace in the tail
    ];
    for (const text of texts) {
      for (const truncation of ['head', 'head-tail'] as const) {
        for (const maxTokens of [2, 3, 18, 129, 256, 512]) {
          assert.deepEqual(
            Array.from(bert.encodeEnds(text, { maxTokens, truncation })),
            expected(text, maxTokens, truncation),
            `${truncation} ${maxTokens}: ${JSON.stringify(text.slice(0, 60))} (${text.length} units)`,
          );
        }
      }
    }
  });

  test('keeps what any shorter length keeps: packing it equals packing the full encoding', () => {
    const text = randomText(new Rng(11), 2_000);
    for (const truncation of ['head', 'head-tail'] as const) {
      const ends = bert.encodeEnds(text, { maxTokens: 256, truncation });
      assert.equal(ends.length, 254);
      for (const maxTokens of [16, 64, 128, 255, 256]) {
        assert.deepEqual(
          bert.packPieces([ends], { maxTokens, truncation }).ids,
          bert.packPieces([bert.encode(text)], { maxTokens, truncation }).ids,
          `${truncation} ${maxTokens}`,
        );
      }
    }
  });
});

describe('text pairs', () => {
  // The reference for `longest_first`: drop one piece at a time from the longer text (the second on a tie).
  function keepByRemoval(first: number, second: number, budget: number): [number, number] {
    let [a, b] = [first, second];
    while (a + b > budget) {
      if (a > b) a--;
      else b--;
    }
    return [a, b];
  }

  // The reference packing: each text cut to its share by the single-text rule, then laid out with types.
  function expectedRow(a: number[], b: number[], maxTokens: number, truncation: 'head' | 'head-tail') {
    const [keepA, keepB] = keepByRemoval(a.length, b.length, maxTokens - 3);
    const cut = (ids: number[], keep: number) => {
      if (ids.length <= keep) return ids;
      const head = truncation === 'head' ? keep : Math.ceil(keep / 2);
      return [...ids.slice(0, head), ...ids.slice(ids.length - (keep - head))];
    };
    const first = cut(a, keepA);
    const second = cut(b, keepB);
    return {
      ids: [CLS, ...first, SEP, ...second, SEP],
      types: [...first.map(() => 0), 0, 0, ...second.map(() => 1), 1],
      truncated: keepA < a.length || keepB < b.length,
    };
  }

  test('pairKeep equals dropping pieces from the longer text one at a time', () => {
    for (let budget = 0; budget <= 21; budget++) {
      for (let a = 0; a <= 25; a++) {
        for (let b = 0; b <= 25; b++) assert.deepEqual(pairKeep(a, b, budget), keepByRemoval(a, b, budget));
      }
    }
  });

  test('packs [CLS] a [SEP] b [SEP] with token types 0 and 1, and pads every row to the longest', () => {
    const batch = bert.encodeBatch(
      [
        { text: 'A fine film.', textPair: 'I agree!' },
        { text: 'Short.', textPair: '' },
      ],
      { maxTokens: 64, truncation: 'head-tail' },
    );
    const a = Array.from(bert.encode('A fine film.'));
    const b = Array.from(bert.encode('I agree!'));
    const length = a.length + b.length + 3;
    assert.equal(batch.tokens, length);
    assert.deepEqual(Array.from(batch.ids.subarray(0, length)), [CLS, ...a, SEP, ...b, SEP]);
    assert.deepEqual(Array.from(batch.typeIds!.subarray(0, length)), [
      ...a.map(() => 0),
      0,
      0,
      ...b.map(() => 1),
      1,
    ]);
    const short = Array.from(bert.encode('Short.'));
    const row1 = Array.from(batch.ids.subarray(length, 2 * length));
    assert.deepEqual(row1.slice(0, short.length + 3), [CLS, ...short, SEP, SEP]);
    assert.deepEqual(Array.from(batch.typeIds!.subarray(length, 2 * length)).slice(0, short.length + 3), [
      ...short.map(() => 0),
      0,
      0,
      1,
    ]);
    assert.ok(row1.slice(short.length + 3).every((id) => id === 0));
    assert.ok(batch.typeIds!.subarray(length + short.length + 3, 2 * length).every((t) => t === 0));
    assert.deepEqual(batch.lengths, [length, short.length + 3]);
    // A batch of single texts carries no token types.
    assert.equal(
      bert.encodeBatch(['A fine film.'], { maxTokens: 64, truncation: 'head' }).typeIds,
      undefined,
    );
  });

  test('encodeBatch, packPieces of full encodings and packPieces of encodeEnds agree with the reference', () => {
    const rng = new Rng(13);
    const words = ['movie', 'great', 'acting', 'unbelievably', 'naïve', '!', 'plot', '我爱'];
    const text = (n: number) => Array.from({ length: n }, () => rng.pick(words)).join(' ');
    const pairs = Array.from({ length: 40 }, (_, i) => ({
      text: text(i % 5 === 0 ? 0 : rng.int(i < 20 ? 30 : 400)),
      textPair: text(i % 7 === 0 ? 0 : rng.int(i < 20 ? 30 : 400)),
    }));
    for (const truncation of ['head', 'head-tail'] as const) {
      for (const longest of [3, 4, 17, 64, 256]) {
        const ends = pairs.map((p) => bert.encodeEnds(p, { maxTokens: longest, truncation }));
        const full = pairs.map((p) => ({ first: bert.encode(p.text), second: bert.encode(p.textPair) }));
        for (const maxTokens of [3, 4, 9, 16, 64, 255, 256].filter((t) => t <= longest)) {
          const options = { maxTokens, truncation };
          const direct = bert.encodeBatch(pairs, options);
          const fromFull = bert.packPieces(full, options);
          const fromEnds = bert.packPieces(ends, options);
          assert.deepEqual(fromFull, direct, `${truncation} ${maxTokens}: packPieces of full encodings`);
          assert.deepEqual(fromEnds.ids, direct.ids, `${truncation} ${longest}/${maxTokens}: encodeEnds`);
          assert.deepEqual(fromEnds.typeIds, direct.typeIds);
          pairs.forEach((_, r) => {
            const want = expectedRow(
              Array.from(full[r]!.first),
              Array.from(full[r]!.second),
              maxTokens,
              truncation,
            );
            const at = r * direct.tokens;
            const length = direct.lengths[r]!;
            assert.deepEqual(Array.from(direct.ids.subarray(at, at + length)), want.ids, `row ${r}`);
            assert.deepEqual(Array.from(direct.typeIds!.subarray(at, at + length)), want.types);
            assert.equal(direct.truncated[r], want.truncated);
          });
        }
      }
    }
  });

  test('a pair needs at least 3 tokens; single texts and pairs may share a batch', () => {
    assertTokenizerError(
      () => bert.encodeBatch([{ text: 'a', textPair: 'b' }], { maxTokens: 2, truncation: 'head' }),
      'INVALID_TOKENIZER_OPTIONS',
      /at least 3 for a text pair/,
    );
    const mixed = bert.packPieces(
      [bert.encode('one text'), { first: bert.encode('a'), second: bert.encode('b') }],
      {
        maxTokens: 16,
        truncation: 'head-tail',
      },
    );
    assert.deepEqual(Array.from(mixed.typeIds!.subarray(0, mixed.tokens)), new Array(mixed.tokens).fill(0));
    assert.equal(mixed.lengths[1], 5);
  });
});
