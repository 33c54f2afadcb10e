import { createHash } from 'node:crypto';
import type { OpenStoreOptions } from '../../src/storage/index.ts';
import type { Example, LabelledText, Splits } from './example.ts';
import { DataError, type DataFields, type DataFile, locateDataFile, readRecords } from './read-records.ts';
import { foldWhitespace, splitExamples } from './split-examples.ts';

export type SplitName = 'train' | 'dev' | 'test';

// Texts are cleaned as they are read: the split takes them as they are.
const keep = (text: string) => text;
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'dev', 'test'];

// The `"source": "files"` data section, as the config schema parses it.
export interface FilesDataConfig {
  source: 'files';
  train: string;
  dev?: string | undefined;
  test?: string | undefined;
  fields: DataFields;
  splitSalt?: string | undefined;
  devFraction?: number | undefined;
  testFraction?: number | undefined;
  limit?: { train: number; dev: number; test: number } | undefined;
}

// The labels as the config gives them, if it does: names, or only how many (then the names are 0..n-1).
export interface GivenLabels {
  labels?: string[] | undefined;
  numLabels?: number | undefined;
}

// Examples per label index, for each split.
export type ClassBalance = Record<SplitName, number[]>;

// A task's data, read and checked: the splits, the label names (index = label), each split's class balance, where
// each split came from, and a digest of the examples (a checkpoint never resumes on other data).
export interface TaskData {
  splits: Splits;
  labels: string[];
  labelsFrom: 'config' | 'data';
  balance: ClassBalance;
  origins: Record<SplitName, string>;
  // Absent for the built-in IMDB data (its package version pins it).
  digest?: string;
}

// Sorts label names: numerically when every name is an integer, else by code point.
export function sortLabelNames(names: Iterable<string>): string[] {
  const all = [...names];
  if (all.every((n) => /^-?\d+$/.test(n))) return all.sort((a, b) => Number(a) - Number(b));
  return all.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

// Reads one file into labelled texts. With `labels`, a label outside them is refused at its line; without,
// labels are numbered in order of appearance into `seen`.
async function readLabelled(
  file: DataFile,
  fields: DataFields,
  labels: ReadonlyMap<string, number> | undefined,
  describeLabels: string,
  seen: Map<string, number>,
): Promise<LabelledText[]> {
  const out: LabelledText[] = [];
  await readRecords(file, fields, (record) => {
    let label: number | undefined;
    if (labels) {
      label = labels.get(record.label);
      if (label === undefined) {
        return `unknown label ${JSON.stringify(record.label.slice(0, 80))} (${describeLabels})`;
      }
    } else {
      label = seen.get(record.label);
      if (label === undefined) {
        label = seen.size;
        seen.set(record.label, label);
      }
    }
    // Cleaned as read, so that the split below keeps these strings rather than a cleaned copy of each.
    const text = foldWhitespace(record.text);
    out.push(
      record.textPair === undefined
        ? { text, label }
        : { text, textPair: foldWhitespace(record.textPair), label },
    );
    return undefined;
  });
  return out;
}

function labelList(names: readonly string[]): string {
  const shown = names.slice(0, 12).map((n) => JSON.stringify(n));
  return `${shown.join(', ')}${names.length > 12 ? `, and ${names.length - 12} more` : ''}`;
}

// Reads `train` (and `dev`, `test` when given) streaming, labels the examples, carves the absent splits out of
// train by salted hash, and checks that the data can be trained on: at least two labels, and every label in
// every split. Every refusal is a DataError naming the file, and the line when one line is at fault.
export async function loadFileSplits(
  data: FilesDataConfig,
  given: GivenLabels,
  options: OpenStoreOptions = {},
): Promise<TaskData> {
  const files = {
    train: locateDataFile(data.train, options),
    dev: data.dev === undefined ? undefined : locateDataFile(data.dev, options),
    test: data.test === undefined ? undefined : locateDataFile(data.test, options),
  };
  const names =
    given.labels ??
    (given.numLabels === undefined
      ? undefined
      : Array.from({ length: given.numLabels }, (_, i) => String(i)));
  const index = names && new Map(names.map((n, i) => [n, i]));
  const seen = new Map<string, number>();
  const configLabels = `the config's labels are ${labelList(names ?? [])}`;
  const rawTrain = await readLabelled(files.train, data.fields, index, configLabels, seen);

  let labels = names;
  if (!labels) {
    // Labels from the data: sorted, and the examples renumbered to match.
    labels = sortLabelNames(seen.keys());
    const order = new Map(labels.map((n, i) => [n, i]));
    const renumber = new Int32Array(seen.size);
    for (const [name, first] of seen) renumber[first] = order.get(name)!;
    for (const e of rawTrain) e.label = renumber[e.label]!;
  }
  const labelIndex = new Map(labels.map((n, i) => [n, i]));
  const known = names ? configLabels : `the training data's labels are ${labelList(labels)}`;
  const readOther = (file: DataFile) => readLabelled(file, data.fields, labelIndex, known, seen);
  const rawDev = files.dev && (await readOther(files.dev));
  const rawTest = files.test && (await readOther(files.test));

  const salt = data.splitSalt ?? '';
  const carved = splitExamples(
    rawTrain,
    {
      splitSalt: salt,
      devFraction: rawDev ? 0 : data.devFraction!,
      testFraction: rawTest ? 0 : data.testFraction!,
    },
    keep,
  );
  const own = (raw: LabelledText[]) =>
    splitExamples(raw, { splitSalt: salt, devFraction: 0, testFraction: 0 }, keep);
  const dev = rawDev ? own(rawDev) : undefined;
  const test = rawTest ? own(rawTest) : undefined;
  const limit = data.limit;
  const cut = (examples: Example[], split: SplitName) => (limit ? examples.slice(0, limit[split]) : examples);
  const splits: Splits = {
    train: cut(carved.train, 'train'),
    dev: cut(dev ? dev.train : carved.dev, 'dev'),
    test: cut(test ? test.train : carved.test, 'test'),
    stats: {
      raw: rawTrain.length + (rawDev?.length ?? 0) + (rawTest?.length ?? 0),
      duplicates: carved.stats.duplicates + (dev?.stats.duplicates ?? 0) + (test?.stats.duplicates ?? 0),
      conflicting: carved.stats.conflicting + (dev?.stats.conflicting ?? 0) + (test?.stats.conflicting ?? 0),
      train: 0,
      dev: 0,
      test: 0,
    },
  };
  for (const split of SPLIT_NAMES) splits.stats[split] = splits[split].length;
  const origins: Record<SplitName, string> = {
    train: data.train,
    dev: data.dev ?? `${data.train} (devFraction ${data.devFraction} of it, salt ${JSON.stringify(salt)})`,
    test:
      data.test ?? `${data.train} (testFraction ${data.testFraction} of it, salt ${JSON.stringify(salt)})`,
  };
  const balance = checkClassBalance(splits, labels, origins);
  return {
    splits,
    labels,
    labelsFrom: names ? 'config' : 'data',
    balance,
    origins,
    digest: examplesDigest(splits, labels),
  };
}

// Counts each split's examples per label and refuses data that cannot train a classifier: fewer than two
// labels among the training examples, or a split without an example of some label.
export function checkClassBalance(
  splits: Record<SplitName, readonly LabelledText[]>,
  labels: readonly string[],
  origins: Record<SplitName, string>,
): ClassBalance {
  const balance = {} as ClassBalance;
  for (const split of SPLIT_NAMES) {
    const counts = new Array<number>(labels.length).fill(0);
    for (const e of splits[split]) counts[e.label]!++;
    balance[split] = counts;
  }
  const present = balance.train.filter((n) => n > 0).length;
  if (present < 2) {
    const only = labels[balance.train.findIndex((n) => n > 0)];
    throw new DataError(
      `data ${origins.train}: ${splits.train.length === 0 ? 'no training examples' : `every training example has the label ${JSON.stringify(only)}`}: a classifier needs examples of two labels or more`,
    );
  }
  for (const split of SPLIT_NAMES) {
    const missing = labels.filter((_, i) => balance[split][i] === 0);
    if (missing.length > 0) {
      throw new DataError(
        `data ${origins[split]}: the ${split} split has no example of the label${missing.length > 1 ? 's' : ''} ${labelList(missing)} (${describeBalance(balance[split], labels)})`,
      );
    }
  }
  return balance;
}

// Each split's examples per label name, for the manifest's provenance.
export function namedBalance(
  task: Pick<TaskData, 'balance' | 'labels'>,
): Record<SplitName, Record<string, number>> {
  const named = {} as Record<SplitName, Record<string, number>>;
  for (const split of SPLIT_NAMES) {
    named[split] = Object.fromEntries(task.labels.map((name, i) => [name, task.balance[split][i]!]));
  }
  return named;
}

// One split's class balance, largest first: `earn 2,840 (52.1%), acq 1,596 (29.3%), ...`.
export function describeBalance(counts: readonly number[], labels: readonly string[]): string {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts
    .map((n, i) => ({ n, name: labels[i]! }))
    .sort((a, b) => b.n - a.n)
    .map(
      ({ n, name }) =>
        `${name} ${n.toLocaleString('en-US')} (${((n / Math.max(1, total)) * 100).toFixed(1)}%)`,
    )
    .join(', ');
}

function examplesDigest(splits: Splits, labels: readonly string[]): string {
  const hash = createHash('sha256').update(JSON.stringify(labels));
  for (const split of SPLIT_NAMES) {
    hash.update(`\0${split}`);
    for (const e of splits[split]) hash.update(`\0${e.key}:${e.label}`);
  }
  return hash.digest('hex').slice(0, 16);
}
