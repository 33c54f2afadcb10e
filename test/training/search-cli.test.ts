import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { researchModel } from '../../training/search-cli.ts';

const quiet = () => {};

describe('npm run search', () => {
  it('refuses a command line without --model or --config, or with an unknown flag, naming the usage', async () => {
    for (const argv of [
      ['--config', 'training/configs/default.json'],
      ['--model', 'models/imdb-sentiment'],
      ['--model', 'models/imdb-sentiment', '--config', 'training/configs/default.json', '--fast'],
    ]) {
      await assert.rejects(researchModel(argv, quiet), /usage: npm run search/);
    }
  });

  it('refuses a training config of another model or architecture before reading any data', async (t) => {
    // Outputs go to a scratch folder: were a check missing, the search would publish there, not into models/.
    const folder = await mkdtemp(join(tmpdir(), 'search-cli-'));
    t.after(() => rm(folder, { recursive: true, force: true }));
    const scratch = ['--out', join(folder, 'out'), '--checkpoints', join(folder, 'checkpoints')];
    await assert.rejects(
      researchModel(
        ['--model', 'models/imdb-sentiment', '--config', 'training/configs/tiny.json', ...scratch],
        quiet,
      ),
      /--config trains 'imdb-tiny', the supernet at --model is 'imdb-sentiment'/,
    );
    // The bundled model's own config with a wider hidden size.
    const config = JSON.parse(await readFile('training/configs/default.json', 'utf8'));
    config.architecture.hiddenSize *= 2;
    await writeFile(join(folder, 'wider.json'), JSON.stringify(config));
    await assert.rejects(
      researchModel(
        ['--model', 'models/imdb-sentiment', '--config', join(folder, 'wider.json'), ...scratch],
        quiet,
      ),
      /architecture differs/,
    );
  });
});
