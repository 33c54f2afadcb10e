import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TokenizerError } from '../../../src/errors.ts';
import {
  convertMarkedTokens,
  loadBertUncasedVocabulary,
  Vocabulary,
} from '../../../src/tokenizer/vocabulary.ts';

const TINY = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'un', '##aff', '##able'];

function assertInvalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TokenizerError);
    assert.equal(error.code, 'INVALID_VOCABULARY');
    assert.match(error.message, message);
    return true;
  });
}

describe('Vocabulary.parse', () => {
  test('maps line numbers to ids and back', () => {
    const vocabulary = Vocabulary.parse(TINY.join('\n') + '\n');
    assert.equal(vocabulary.size, 7);
    assert.equal(vocabulary.idOf('un'), 4);
    assert.equal(vocabulary.idOf('##able'), 6);
    assert.equal(vocabulary.idOf('able'), undefined);
    assert.equal(vocabulary.tokenOf(5), '##aff');
    assert.equal(vocabulary.tokenOf(7), undefined);
    assert.equal(vocabulary.tokenOf(-1), undefined);
    assert.equal(vocabulary.tokenOf(1.5), undefined);
    assert.deepEqual(
      [vocabulary.padId, vocabulary.unkId, vocabulary.clsId, vocabulary.sepId, vocabulary.maskId],
      [0, 1, 2, 3, undefined],
    );
  });

  test('accepts CRLF, a BOM and a missing final newline', () => {
    const vocabulary = Vocabulary.parse('\uFEFF' + TINY.join('\r\n'));
    assert.equal(vocabulary.size, 7);
    assert.equal(vocabulary.idOf('[PAD]'), 0);
    assert.equal(vocabulary.idOf('##able'), 6);
  });

  test('toVocabText round-trips', () => {
    const text = TINY.join('\n') + '\n';
    assert.equal(Vocabulary.parse(text).toVocabText(), text);
  });

  test('rejects an empty vocabulary', () => {
    assertInvalid(() => Vocabulary.parse(''), /empty/);
    assertInvalid(() => Vocabulary.fromTokens([]), /empty/);
  });

  test('rejects an empty line, naming it', () => {
    assertInvalid(() => Vocabulary.parse('[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n'), /empty token on line 3 \(id 2\)/);
  });

  test('rejects a duplicate token, naming both lines', () => {
    assertInvalid(
      () => Vocabulary.parse([...TINY, 'un'].join('\n')),
      /duplicate token "un" on line 8 \(first on line 5\)/,
    );
  });

  test('rejects a vocabulary without a required special token', () => {
    for (const special of ['[PAD]', '[UNK]', '[CLS]', '[SEP]']) {
      const tokens = TINY.filter((t) => t !== special);
      assertInvalid(() => Vocabulary.fromTokens(tokens), new RegExp(`no \\${special.slice(0, -1)}\\]`));
    }
  });

  test('rejects malformed UTF-16', () => {
    assertInvalid(() => Vocabulary.fromTokens([...TINY, 'a\uD800']), /malformed unicode .* line 8/);
  });
});

describe('convertMarkedTokens', () => {
  test('word starts lose the marker, continuations gain ##, specials stay', () => {
    assert.deepEqual(convertMarkedTokens(['[PAD]', '\u2581', '[UNK]', '\u2581the', 's', '\u2581!', '!']), [
      '[PAD]',
      '[unused0]',
      '[UNK]',
      'the',
      '##s',
      '!',
      '##!',
    ]);
  });

  test('a bare marker anywhere but id 1 is an error', () => {
    assert.throws(
      () => convertMarkedTokens(['[PAD]', '[UNK]', '\u2581']),
      (error: unknown) => error instanceof TokenizerError && error.code === 'INVALID_VOCABULARY',
    );
  });
});

describe('loadBertUncasedVocabulary', () => {
  const vocabulary = loadBertUncasedVocabulary();

  test('has the 30,522 bert-base-uncased tokens at their BERT ids', () => {
    assert.equal(vocabulary.size, 30522);
    const expected: Array<[string, number]> = [
      ['[PAD]', 0],
      ['[unused0]', 1],
      ['[unused98]', 99],
      ['[UNK]', 100],
      ['[CLS]', 101],
      ['[SEP]', 102],
      ['[MASK]', 103],
      ['[unused99]', 104],
      ['[unused993]', 998],
      ['!', 999],
      ['the', 1996],
      ['##s', 2015],
      ['movie', 3185],
      ['i', 1045],
      ['like', 2066],
      ['straw', 13137],
      ['##berries', 20968],
      ['##!', 29612],
      ['##～', 30521],
    ];
    for (const [token, id] of expected) assert.equal(vocabulary.idOf(token), id, token);
    assert.equal(vocabulary.maskId, 103);
  });

  test('holds no marker, no duplicates and no accented or upper-case tokens', () => {
    const text = vocabulary.toVocabText();
    assert.ok(!text.includes('\u2581'));
    const tokens = text.split('\n').slice(0, -1);
    assert.equal(new Set(tokens).size, 30522);
    const words = tokens.filter((t) => !/^\[[A-Za-z0-9]+\]$/.test(t));
    assert.ok(words.every((t) => t === t.toLowerCase() && t === t.normalize('NFD') && !/\p{Mn}/u.test(t)));
    assert.equal(tokens.filter((t) => t.startsWith('##')).length, 5828);
  });

  test('serializes to a standard vocab.txt that parses back to the same ids', () => {
    const text = vocabulary.toVocabText();
    assert.ok(text.startsWith('[PAD]\n[unused0]\n[unused1]\n'));
    assert.ok(text.endsWith('\n##～\n'));
    const reparsed = Vocabulary.parse(text);
    assert.equal(reparsed.size, 30522);
    assert.equal(reparsed.toVocabText(), text);
    assert.equal(reparsed.idOf('##s'), 2015);
  });

  test('is loaded once and shared', () => {
    assert.equal(loadBertUncasedVocabulary(), vocabulary);
  });
});
