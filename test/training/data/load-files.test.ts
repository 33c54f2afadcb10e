import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type FilesDataConfig, loadFileSplits, sortLabelNames } from '../../../training/data/load-files.ts';
import {
  DataError,
  type DataFields,
  dataFormatOf,
  locateDataFile,
  type RawRecord,
  readRecords,
} from '../../../training/data/read-records.ts';
import { startTestS3 } from '../../helpers/s3-server.ts';

// The files data source: JSON Lines, CSV and TSV read streaming from a folder or S3, labels from the config or
// the data, and every kind of bad data refused in one line naming the file and the place.

const fields: DataFields = { text: 'text', label: 'label' };

describe('files data source', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'files-data-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const write = async (name: string, content: string | Uint8Array) => {
    const path = join(dir, name);
    await writeFile(path, content);
    return path;
  };
  const records = async (path: string, names = fields) => {
    const out: Array<RawRecord & { line: number; record?: number }> = [];
    await readRecords(locateDataFile(path), names, (r, place) => {
      out.push({ ...r, ...place });
      return undefined;
    });
    return out;
  };
  const refusal = async (path: string, names = fields) => {
    try {
      await records(path, names);
    } catch (error) {
      assert.ok(error instanceof DataError, String(error));
      assert.doesNotMatch(error.message, /\n/);
      return error.message;
    }
    assert.fail(`${path} was not refused`);
  };

  it('knows a format by its extension, .gz too', () => {
    assert.deepEqual(dataFormatOf('data/train.jsonl'), { format: 'jsonl', gzip: false });
    assert.deepEqual(dataFormatOf('s3://b/p/dev.CSV.gz'), { format: 'csv', gzip: true });
    assert.deepEqual(dataFormatOf('file:///x/test.tsv'), { format: 'tsv', gzip: false });
    assert.equal(dataFormatOf('train.json'), undefined);
    assert.equal(dataFormatOf('train.gz'), undefined);
  });

  it('reads JSON Lines: string and integer labels, pairs, blank lines and CRLF, a path or a file:// URI', async () => {
    const path = await write(
      'a.jsonl',
      '{"text":"first","label":"spam"}\r\n\n{"text":"second","label":3,"other":1}\n{"text":"no newline","label":"x"}',
    );
    for (const location of [path, pathToFileURL(path).href]) {
      assert.deepEqual(await records(location), [
        { text: 'first', label: 'spam', line: 1 },
        { text: 'second', label: '3', line: 3 },
        { text: 'no newline', label: 'x', line: 4 },
      ]);
    }
    const pairs = await write('p.jsonl', '{"q":"a question","a":"an answer","y":1}\n');
    assert.deepEqual(await records(pairs, { text: 'q', textPair: 'a', label: 'y' }), [
      { text: 'a question', textPair: 'an answer', label: '1', line: 1 },
    ]);
  });

  it('reads RFC 4180 CSV: quoted delimiters, line breaks and doubled quotes, CRLF, any chunking', async () => {
    const csv =
      'id,text,label\r\n1,plain text,a\r\n2,"with, comma",b\r\n3,"two\nlines ""quoted""",a\r\n4,"",b\r\n5,"x"\r\n';
    // Quoted empty text is empty: refused; the rest first.
    const good = csv.replace('4,"",b\r\n', '').replace('5,"x"\r\n', '');
    const expected = [
      { text: 'plain text', label: 'a', line: 2, record: 1 },
      { text: 'with, comma', label: 'b', line: 3, record: 2 },
      { text: 'two\nlines "quoted"', label: 'a', line: 4, record: 3 },
    ];
    assert.deepEqual(await records(await write('a.csv', good)), expected);
    assert.deepEqual(await records(await write('a.csv.gz', gzipSync(good))), expected);
    // Many stream chunks: quoted fields, doubled quotes and CRLF pairs fall across chunk boundaries.
    const many = Array.from(
      { length: 4000 },
      (_, i) => `${i},"line ${i}\r\n""q"" ${'x'.repeat(i % 97)}",${i % 5}\r\n`,
    );
    const read = await records(await write('many.csv', `id,text,label\r\n${many.join('')}`));
    assert.equal(read.length, 4000);
    read.forEach((r, i) => {
      assert.equal(r.text, `line ${i}\r\n"q" ${'x'.repeat(i % 97)}`);
      assert.equal(r.label, String(i % 5));
      assert.equal(r.line, 2 + 2 * i);
    });
    assert.match(
      await refusal(await write('b.csv', csv)),
      /^data .*b\.csv: record 4 \(line 6\): empty text in field "text"$/,
    );
  });

  it('reads TSV without quoting, as GLUE writes it (a quote is a character)', async () => {
    const path = await write('a.tsv', 'label\tsentence1\tsentence2\n1\tHe said "yes\tShe "agreed"\n');
    assert.deepEqual(await records(path, { text: 'sentence1', textPair: 'sentence2', label: 'label' }), [
      { text: 'He said "yes', textPair: 'She "agreed"', label: '1', line: 2, record: 1 },
    ]);
  });

  it('refuses bad records in one line naming the file, the line and the problem', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['bad.jsonl', '{"text":"ok","label":"a"}\n{"text": "cut\n', /bad\.jsonl: line 2: malformed JSON/],
      ['array.jsonl', '["text", "a"]\n', /array\.jsonl: line 1: not a JSON object/],
      ['nolabel.jsonl', '{"text":"ok"}\n', /nolabel\.jsonl: line 1: missing field "label"/],
      ['notext.jsonl', '\n\n{"body":"ok","label":"a"}\n', /notext\.jsonl: line 3: missing field "text"/],
      ['empty.jsonl', '{"text":"  ","label":"a"}\n', /empty\.jsonl: line 1: empty text in field "text"/],
      [
        'float.jsonl',
        '{"text":"t","label":1.5}\n',
        /float\.jsonl: line 1: field "label" must be a non-empty/,
      ],
      [
        'open.csv',
        'text,label\n"never closed,a\nmore,b\n',
        /open\.csv: line 2: a quoted field is never closed/,
      ],
      ['after.csv', 'text,label\n"quoted"x,a\n', /after\.csv: line 2: a character after the closing quote/],
      ['inner.csv', 'text,label\nab"c,a\n', /inner\.csv: line 2: a quote inside an unquoted field/],
      [
        'count.csv',
        'text,label\nok,a\nok,a,extra\n',
        /count\.csv: record 2 \(line 3\): 3 fields where the header has 2/,
      ],
      [
        'header.csv',
        'body,label\nok,a\n',
        /header\.csv: line 1: no column "text" in the header \(columns: body, label\)/,
      ],
      [
        'latin1.jsonl',
        Buffer.from([0x7b, 0xe9, 0x7d, 0x0a]) as unknown as string,
        /latin1\.jsonl: line 1: not UTF-8 text/,
      ],
    ];
    for (const [name, content, expected] of cases) {
      assert.match(await refusal(await write(name, content)), expected, name);
    }
    assert.match(await refusal(join(dir, 'missing.jsonl')), /^data .*missing\.jsonl: cannot read: /);
    const locked = await write('locked.jsonl', '{"text":"t","label":"a"}\n');
    await chmod(locked, 0);
    if (process.getuid?.() !== 0) assert.match(await refusal(locked), /locked\.jsonl: cannot read: /);
    assert.match(await refusal(await write('fake.jsonl.gz', 'not gzip')), /fake\.jsonl\.gz: not gzip data/);
  });

  it('labels from the data (sorted), from the config (an unknown label refused at its line), or 0..n-1', async () => {
    const lines = (rows: Array<[string, string | number]>) =>
      rows.map(([text, label]) => `${JSON.stringify({ text, label })}\n`).join('');
    const rows: Array<[string, string | number]> = [];
    for (let i = 0; i < 300; i++) rows.push([`text number ${i}`, ['sport', 'arts', 'news'][i % 3]!]);
    const train = await write('train.jsonl', lines(rows));
    const dev = await write(
      'dev.jsonl',
      lines([
        ['d1', 'news'],
        ['d2', 'arts'],
        ['d3', 'sport'],
      ]),
    );
    const config: FilesDataConfig = {
      source: 'files',
      train,
      dev,
      fields,
      splitSalt: 'salt',
      testFraction: 0.2,
    };
    const fromData = await loadFileSplits(config, {});
    assert.deepEqual(fromData.labels, ['arts', 'news', 'sport']);
    assert.equal(fromData.labelsFrom, 'data');
    assert.deepEqual(fromData.splits.dev.map((e) => [e.text, fromData.labels[e.label]]).sort(), [
      ['d1', 'news'],
      ['d2', 'arts'],
      ['d3', 'sport'],
    ]);
    for (const e of fromData.splits.train) {
      assert.equal(fromData.labels[e.label], rows[Number(e.text.split(' ')[2])]![1]);
    }
    assert.equal(fromData.splits.train.length + fromData.splits.test.length, 300);
    assert.ok(fromData.splits.test.length > 30 && fromData.splits.test.length < 90);
    assert.deepEqual(fromData.balance.dev, [1, 1, 1]);
    // The same files give the same digest; other labels for the same texts another.
    assert.equal((await loadFileSplits(config, {})).digest, fromData.digest);

    const given = await loadFileSplits(config, { labels: ['sport', 'news', 'arts'] });
    assert.equal(given.labelsFrom, 'config');
    assert.deepEqual(given.balance.dev, [1, 1, 1]);
    assert.notEqual(given.digest, fromData.digest);
    await assert.rejects(
      loadFileSplits(config, { labels: ['sport', 'news'] }),
      (e: Error) =>
        e instanceof DataError &&
        /train\.jsonl: line 2: unknown label "arts" \(the config's labels are "sport", "news"\)$/.test(
          e.message,
        ),
    );
    const badDev = await write(
      'dev-bad.jsonl',
      lines([
        ['d1', 'news'],
        ['d2', 'weather'],
      ]),
    );
    await assert.rejects(
      loadFileSplits({ ...config, dev: badDev }, {}),
      /dev-bad\.jsonl: line 2: unknown label "weather" \(the training data's labels are "arts", "news", "sport"\)$/,
    );
    const numbered = await write('numbered.jsonl', lines(rows.map(([t], i) => [t, i % 2])));
    const byCount = await loadFileSplits(
      { ...config, train: numbered, dev: undefined, devFraction: 0.2 },
      { numLabels: 2 },
    );
    assert.deepEqual(byCount.labels, ['0', '1']);
    await assert.rejects(
      loadFileSplits({ ...config, train: numbered, dev: undefined, devFraction: 0.2 }, { numLabels: 1 + 0 }),
      /line 2: unknown label "1"/,
    );
    assert.deepEqual(sortLabelNames(['10', '9', '-1']), ['-1', '9', '10']);
  });

  it('refuses a split without some label and data with a single label', async () => {
    const lines = (rows: Array<[string, string]>) =>
      rows.map(([text, label]) => `${JSON.stringify({ text, label })}\n`).join('');
    const rows = Array.from({ length: 200 }, (_, i): [string, string] => [`t${i}`, i % 2 ? 'a' : 'b']);
    const train = await write('two.jsonl', lines(rows));
    const devOneLabel = await write('dev-a.jsonl', lines([['x', 'a']]));
    await assert.rejects(
      loadFileSplits({ source: 'files', train, dev: devOneLabel, test: devOneLabel, fields }, {}),
      /dev-a\.jsonl: the dev split has no example of the label "b" \(a 1 \(100\.0%\), b 0 \(0\.0%\)\)$/,
    );
    const single = await write('single.jsonl', lines(rows.map(([t]) => [t, 'a'])));
    await assert.rejects(
      loadFileSplits(
        { source: 'files', train: single, fields, splitSalt: 's', devFraction: 0.1, testFraction: 0.1 },
        {},
      ),
      /single\.jsonl: every training example has the label "a": a classifier needs examples of two labels or more$/,
    );
    // A label the config names but the data never uses is a class without examples.
    await assert.rejects(
      loadFileSplits(
        { source: 'files', train, fields, splitSalt: 's', devFraction: 0.1, testFraction: 0.1 },
        { labels: ['a', 'b', 'c'] },
      ),
      /two\.jsonl: the train split has no example of the label "c"/,
    );
  });

  it('reads from S3 (a real S3 server), gzip and all', async () => {
    const s3 = await startTestS3();
    try {
      const store = s3.makeStore('data');
      const rows = Array.from({ length: 60 }, (_, i) => `${i % 3 ? 'yes' : 'no'},"text, number ${i}"\n`);
      await store.write('train.csv.gz', gzipSync(`label,text\n${rows.join('')}`));
      const data = await loadFileSplits(
        {
          source: 'files',
          train: `${store.uri}/train.csv.gz`,
          fields,
          splitSalt: 's',
          devFraction: 0.3,
          testFraction: 0.3,
        },
        {},
        { s3: s3.storeOptions },
      );
      assert.deepEqual(data.labels, ['no', 'yes']);
      assert.equal(data.splits.stats.raw, 60);
      const all = [...data.splits.train, ...data.splits.dev, ...data.splits.test];
      assert.equal(all.find((e) => e.text === 'text, number 7')?.label, 1);
      await assert.rejects(
        loadFileSplits(
          {
            source: 'files',
            train: `${store.uri}/absent.jsonl`,
            fields,
            splitSalt: 's',
            devFraction: 0.1,
            testFraction: 0.1,
          },
          {},
          { s3: s3.storeOptions },
        ),
        /absent\.jsonl: cannot read: /,
      );
    } finally {
      await s3.stop();
    }
  });
});
