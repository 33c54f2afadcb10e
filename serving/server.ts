import { pathToFileURL } from 'node:url';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.ts';
import { loadConfig, ServingConfigError } from './config.ts';

// Starts the API: listens on PORT at once (ready turns 200 once the supernet is loaded and calibrated), and on
// SIGTERM or SIGINT stops accepting, drains the requests in flight, frees the engines and exits.
export async function startServer(env: Record<string, string | undefined> = process.env): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env, 'server');
  } catch (error) {
    if (error instanceof ServingConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const app = await buildApp({ config });
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

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  await startServer();
