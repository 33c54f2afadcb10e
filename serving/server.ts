import { pathToFileURL } from 'node:url';
import closeWithGrace from 'close-with-grace';
import { isSupernetError } from '../src/errors.ts';
import { buildApp } from './app.ts';
import { checkArtifactLocation } from './artifact-source.ts';
import { loadConfig, type ServingConfig, ServingConfigError } from './config.ts';
import { ConnectionTracker } from './connection-tracker.ts';

// How long every open connection must have been quiet before a shutdown closes the server (and with it the idle
// keep-alive connections): a client under load sends again well within it, gets 503 SHUTTING_DOWN with
// Connection: close, and closes the connection itself.
const DRAIN_QUIET_MS = 500;

// Starts the API: listens on PORT at once (ready turns 200 once the supernet is loaded and calibrated), and on
// SIGTERM or SIGINT refuses new requests (503 SHUTTING_DOWN, Connection: close), answers those in flight, closes
// the server once every connection is closed or quiet, frees the engines and exits. A bad environment, or a
// SUPERNET_URI that can never name a supernet, exits 2 with one line.
export async function startServer(env: Record<string, string | undefined> = process.env): Promise<void> {
  const config = await loadServerConfig(env);
  const app = await buildApp({ config });
  const connections = new ConnectionTracker(app.server);
  // Runs after the app's own preClose hook (which starts refusing requests), before fastify closes the server.
  app.addHook('preClose', async () => {
    await connections.whenQuiet(DRAIN_QUIET_MS, config.shutdownGraceMs);
  });
  closeWithGrace({ delay: config.shutdownGraceMs, logger: app.log }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after an error');
    else app.log.info({ signal }, 'draining and shutting down');
    await app.close();
    app.log.info('shut down');
  });
  await app.listen({ port: config.port, host: config.host });
  app.log.info(
    { supernet: config.supernetUri, engine: config.engine, workers: config.inferenceWorkers },
    'listening',
  );
}

// The configuration, or exit 2 with one line naming what is wrong.
async function loadServerConfig(env: Record<string, string | undefined>): Promise<ServingConfig> {
  try {
    const config = loadConfig(env, 'server');
    await checkArtifactLocation(config.supernetUri, { s3: config.s3 }).catch((error: unknown) => {
      if (!isSupernetError(error) || error.code !== 'INVALID_STORAGE_URI') throw error;
      throw new ServingConfigError(`invalid serving environment: SUPERNET_URI: ${error.message}`, {
        cause: error,
      });
    });
    return config;
  } catch (error) {
    if (error instanceof ServingConfigError) {
      console.error(error.message.split('\n')[0]);
      process.exit(2);
    }
    throw error;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  await startServer();
