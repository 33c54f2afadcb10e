// What importing and serving a bert-base-uncased-sized checkpoint costs: a random-weight checkpoint of that shape
// (12 layers, hidden 768, 12 heads, FFN 3072, 512 positions, the bert-base-uncased vocabulary; 110M parameters,
// about 440 MB of F32) is written to a temp folder, imported by `npm run import` in a child process (its wall
// time and peak RSS), served by the server in another (time to ready), and called at 1 x 128 tokens.
//
//   npm run bench:import [-- --layers 12 --hidden 768 --requests 30 --keep]
//
// Figures only; no pass/fail. The machine is shared: read them beside its load average, printed too.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeSafetensors, type TensorToWrite } from '../src/checkpoint/safetensors.ts';
import { Rng } from '../src/model/random.ts';
import { loadBertUncasedVocabulary } from '../src/tokenizer/vocabulary.ts';

const ROOT = resolve(import.meta.dirname, '..');

export interface BertShape {
  layers: number;
  hidden: number;
  heads: number;
  ffn: number;
  positions: number;
  labels: number;
}

// The Hugging Face BertForSequenceClassification tensors of a shape, random (normal(0, 0.02) weights, unit
// LayerNorm scales), in the order the format sorts them.
export function randomBertTensors(shape: BertShape, vocab: number, seed = 1): TensorToWrite[] {
  const rng = new Rng(seed);
  const { hidden: h, ffn, positions, labels } = shape;
  const tensor = (name: string, dims: number[], init: 'normal' | 'ones' | 'zeros'): TensorToWrite => {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    if (init === 'ones') data.fill(1);
    else if (init === 'normal') for (let i = 0; i < data.length; i++) data[i] = rng.normal() * 0.02;
    return { name, dtype: 'F32', shape: dims, data };
  };
  const out: TensorToWrite[] = [
    tensor('bert.embeddings.word_embeddings.weight', [vocab, h], 'normal'),
    tensor('bert.embeddings.position_embeddings.weight', [positions, h], 'normal'),
    tensor('bert.embeddings.token_type_embeddings.weight', [2, h], 'normal'),
    tensor('bert.embeddings.LayerNorm.weight', [h], 'ones'),
    tensor('bert.embeddings.LayerNorm.bias', [h], 'zeros'),
  ];
  for (let i = 0; i < shape.layers; i++) {
    const p = `bert.encoder.layer.${i}.`;
    for (const part of [
      'attention.self.query',
      'attention.self.key',
      'attention.self.value',
      'attention.output.dense',
    ]) {
      out.push(tensor(`${p}${part}.weight`, [h, h], 'normal'), tensor(`${p}${part}.bias`, [h], 'zeros'));
    }
    out.push(
      tensor(`${p}attention.output.LayerNorm.weight`, [h], 'ones'),
      tensor(`${p}attention.output.LayerNorm.bias`, [h], 'zeros'),
      tensor(`${p}intermediate.dense.weight`, [ffn, h], 'normal'),
      tensor(`${p}intermediate.dense.bias`, [ffn], 'zeros'),
      tensor(`${p}output.dense.weight`, [h, ffn], 'normal'),
      tensor(`${p}output.dense.bias`, [h], 'zeros'),
      tensor(`${p}output.LayerNorm.weight`, [h], 'ones'),
      tensor(`${p}output.LayerNorm.bias`, [h], 'zeros'),
    );
  }
  out.push(
    tensor('bert.pooler.dense.weight', [h, h], 'normal'),
    tensor('bert.pooler.dense.bias', [h], 'zeros'),
    tensor('classifier.weight', [labels, h], 'normal'),
    tensor('classifier.bias', [labels], 'zeros'),
  );
  return out;
}

// Writes a checkpoint folder in the Hugging Face layout; returns the size of model.safetensors.
async function writeCheckpoint(dir: string, shape: BertShape): Promise<number> {
  const vocabulary = loadBertUncasedVocabulary();
  const tokens = Array.from({ length: vocabulary.size }, (_, id) => vocabulary.tokenOf(id));
  await writeFile(join(dir, 'vocab.txt'), `${tokens.join('\n')}\n`);
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: true }));
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['BertForSequenceClassification'],
      model_type: 'bert',
      vocab_size: vocabulary.size,
      hidden_size: shape.hidden,
      num_hidden_layers: shape.layers,
      num_attention_heads: shape.heads,
      intermediate_size: shape.ffn,
      hidden_act: 'gelu',
      max_position_embeddings: shape.positions,
      type_vocab_size: 2,
      layer_norm_eps: 1e-12,
      id2label: Object.fromEntries(Array.from({ length: shape.labels }, (_, i) => [String(i), `label-${i}`])),
    }),
  );
  const file = createWriteStream(join(dir, 'model.safetensors'));
  for (const chunk of encodeSafetensors(randomBertTensors(shape, vocabulary.size))) {
    if (!file.write(chunk)) await new Promise<void>((r) => file.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => file.end((e?: Error | null) => (e ? j(e) : r())));
  return (await stat(join(dir, 'model.safetensors'))).size;
}

// Runs node with these arguments; resolves with its wall time and what it printed.
function runChild(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ ms: number; out: string }> {
  const started = performance.now();
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolveRun({ ms: performance.now() - started, out })
        : reject(new Error(`${args.join(' ')} exited ${code}`)),
    );
  });
}

async function freePort(): Promise<number> {
  return new Promise((r) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => r(port));
    });
  });
}

const REVIEW =
  'I went in expecting little and came out moved: the acting is restrained, the script sharp, and the ending ' +
  'earns every tear, even if the middle drags a little and the score is too loud at times. ';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      layers: { type: 'string', default: '12' },
      hidden: { type: 'string', default: '768' },
      requests: { type: 'string', default: '30' },
      keep: { type: 'boolean', default: false },
      'child-import': { type: 'string' },
    },
    strict: true,
  });
  if (values['child-import'] !== undefined) {
    // Child mode: run the import CLI in this process and report its peak RSS.
    const { main: importMain } = await import('../training/import-cli.ts');
    const code = await importMain(JSON.parse(values['child-import']) as string[]);
    if (code !== 0) process.exit(code);
    console.log(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS }));
    return;
  }
  const layers = Number(values.layers);
  const hidden = Number(values.hidden);
  const requests = Number(values.requests);
  if (![layers, hidden, requests].every((n) => Number.isInteger(n) && n > 0) || hidden % 64 !== 0) {
    throw new Error('--layers, --hidden (a multiple of 64) and --requests must be positive integers');
  }
  const shape: BertShape = { layers, hidden, heads: hidden / 64, ffn: 4 * hidden, positions: 512, labels: 2 };
  const dir = await mkdtemp(join(tmpdir(), 'bench-import-'));
  try {
    console.log(
      `machine: ${cpus()[0]?.model} x ${cpus().length}, node ${process.version}, load ${loadavg()[0]!.toFixed(1)}`,
    );
    const checkpoint = join(dir, 'checkpoint');
    const out = join(dir, 'models');
    await mkdir(checkpoint);
    let t = performance.now();
    const bytes = await writeCheckpoint(checkpoint, shape);
    console.log(
      `checkpoint: ${layers} layers, hidden ${hidden}, ${(bytes / 2 ** 20).toFixed(0)} MiB of F32 written in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );

    const imported = await runChild([
      '--import',
      'tsx',
      'scripts/bench-import.ts',
      '--child-import',
      JSON.stringify([
        '--checkpoint',
        checkpoint,
        '--out',
        out,
        '--model',
        'bert-base-bench',
        '--tokens',
        '512',
      ]),
    ]);
    const rssKb = (JSON.parse(imported.out.trim().split('\n').pop()!) as { maxRssKb: number }).maxRssKb;
    console.log(
      `import: ${(imported.ms / 1000).toFixed(1)} s, peak RSS ${(rssKb / 1024).toFixed(0)} MiB = ${((rssKb * 1024) / bytes).toFixed(2)} x the checkpoint file`,
    );

    const port = await freePort();
    t = performance.now();
    const server = spawn(process.execPath, ['--import', 'tsx', 'serving/server.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        SUPERNET_URI: join(out, 'bert-base-bench'),
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      for (;;) {
        if (server.exitCode !== null) throw new Error(`the server exited with ${server.exitCode}`);
        const ready = await fetch(`${base}/v2/health/ready`).then(
          (r) => r.ok,
          () => false,
        );
        if (ready) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      console.log(
        `serve: ready ${((performance.now() - t) / 1000).toFixed(1)} s after start (read, verify, materialize, calibrate)`,
      );
      // A text of about 126 wordpieces: 1 x 128 tokens with [CLS] and [SEP].
      const text = REVIEW.repeat(4).split(' ').slice(0, 110).join(' ');
      const inference: number[] = [];
      const total: number[] = [];
      for (let i = 0; i < requests; i++) {
        const response = await fetch(`${base}/v1/models/bert-base-bench/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: [text] }),
        });
        if (!response.ok) throw new Error(`predict answered ${response.status}: ${await response.text()}`);
        const timing = response.headers.get('server-timing') ?? '';
        inference.push(Number(/inference;dur=([\d.]+)/.exec(timing)?.[1]));
        total.push(Number(/total;dur=([\d.]+)/.exec(timing)?.[1]));
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      console.log(
        `latency at 1 x 128 tokens (median of ${requests}): inference ${median(inference).toFixed(1)} ms, server total ${median(total).toFixed(1)} ms`,
      );
    } finally {
      server.kill('SIGTERM');
    }
  } finally {
    if (values.keep) console.log(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    console.error(`error: ${(error as Error).message}`);
    process.exit(1);
  });
}
