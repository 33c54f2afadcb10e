import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ApiClient } from './api-client.ts';

// The repository root (loadtests/..), where `serving/server.ts` lives.
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

// A serving process started by the harness: `node --import tsx serving/server.ts` on 127.0.0.1.
export interface SpawnedServer {
  url: string;
  pid: number;
  logPath: string;
  // Why it exited, when it has.
  exitReason(): string | undefined;
  // Resident memory of the process (VmRSS of /proc/<pid>/status), undefined where /proc is not there.
  rssBytes(): Promise<number | undefined>;
  // SIGTERM (the server drains), then SIGKILL after `graceMs`.
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnServerOptions {
  // SUPERNET_URI; undefined: the server's default (the bundled repository models/).
  supernetUri: string | undefined;
  // The harness's environment, passed on (ENGINE, INFERENCE_WORKERS, ... reach the server as they are).
  env: Record<string, string | undefined>;
  // Where the server's stdout and stderr go.
  logPath: string;
  readyTimeoutMs: number;
}

// A free TCP port on 127.0.0.1 (closed again at once; the server binds it right after).
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

// Starts the server as a child process and waits for GET /v2/health/ready. Logs at `warn` unless LOG_LEVEL is
// set (a line per request at `info` costs the server time under load).
export async function spawnServer(options: SpawnServerOptions): Promise<SpawnedServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string | undefined> = {
    ...options.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: options.env.LOG_LEVEL ?? 'warn',
  };
  if (options.supernetUri !== undefined) env.SUPERNET_URI = options.supernetUri;
  const log = createWriteStream(options.logPath);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'serving/server.ts'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    });
  });
  child.once('error', (error) => {
    exit = error.message;
  });
  // Never leave the server behind when the harness itself exits.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const pid = child.pid;

  const server: SpawnedServer = {
    url,
    pid: pid ?? -1,
    logPath: options.logPath,
    exitReason: () => exit,
    async rssBytes() {
      if (pid === undefined || exit !== undefined) return undefined;
      try {
        const status = await readFile(`/proc/${pid}/status`, 'utf8');
        const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
        return kb === undefined ? undefined : Number(kb) * 1024;
      } catch {
        return undefined;
      }
    },
    async stop(graceMs = 15_000) {
      process.removeListener('exit', killOnExit);
      if (exit === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
  try {
    await new ApiClient(url).waitUntilReady(options.readyTimeoutMs, () =>
      exit === undefined ? undefined : `${exit} (log: ${options.logPath})`,
    );
  } catch (error) {
    await server.stop(2000);
    throw error;
  }
  return server;
}
