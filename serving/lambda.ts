import awsLambdaFastify from '@fastify/aws-lambda';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

// The Lambda entry: the app is built and the supernet loaded, verified and calibrated at init (outside any
// invocation, so a warm start pays nothing); the artifact is kept in ARTIFACT_CACHE_DIR (default
// /tmp/supernet-cache) so that a new instance in the same sandbox reads no network.
const config = loadConfig(process.env, 'lambda');
const app = await buildApp({ config, autoStart: false });

// API Gateway (REST and HTTP APIs) and Function URL events, answered by the same app as the server.
export const handler = awsLambdaFastify(app);

await app.ready();
await app.models.start();
