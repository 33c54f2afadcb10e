import type { Logger } from 'pino';
import { isSupernetError } from '../src/errors.ts';
import { openStore } from '../src/storage/open-store.ts';
import type { ServingConfig } from './config.ts';
import { EngineSlots } from './engine-slots.ts';
import { createEnginePool, type EnginePool } from './inference-pool.ts';
import { ModelHost, type ModelHostOptions, type ReloadOutcome } from './model-host.ts';
import { type ArtifactLayout, childUri, detectLayout, listRepository } from './repository-listing.ts';
import type { ServingMetrics } from './serving-metrics.ts';

// How often a repository not found yet is looked at again when RELOAD_INTERVAL_MS is 0.
const INITIAL_RETRY_MS = 5000;

// What a repository needs.
export interface ModelRepositoryOptions {
  config: ServingConfig;
  log: Logger;
  metrics?: ServingMetrics;
  wrapPool?: ModelHostOptions['wrapPool'];
}

// A model that is not ready, and why.
export interface NotReadyModel {
  model: string;
  reason: string;
}

// Every model SUPERNET_URI names, each on a ModelHost of its own (loaded, verified, calibrated, polled and
// hot-reloaded alone), all on one engine pool and one set of slots. SUPERNET_URI may name one version folder,
// one model root, or a repository root whose children are model roots: then models published into the root
// appear at the next poll, and models removed from it are retired once their requests finish.
export class ModelRepository {
  readonly engines: EnginePool;
  readonly slots: EngineSlots;
  private readonly options: ModelRepositoryOptions;
  private readonly log: Logger;
  private layout: ArtifactLayout | undefined;
  // By model name; a single model root or version folder has one host, under ''.
  private readonly hosts = new Map<string, ModelHost>();
  // The models found at the first look: readiness waits for each (while it stays in the repository).
  private readonly expected = new Set<string>();
  // Children skipped, with the reason logged (a child is logged again only when its reason changes).
  private readonly skipped = new Map<string, string>();
  private readonly retiring = new Set<Promise<void>>();
  private readyWaiters: Array<{ resolve(): void; reject(error: Error): void }> = [];
  private looking: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;
  private loggedCause: string | undefined;
  private firstLookDone = false;
  private closed = false;

  constructor(options: ModelRepositoryOptions) {
    const { config } = options;
    this.options = options;
    this.log = options.log.child({ component: 'model-repository' });
    this.engines = createEnginePool(
      {
        engine: config.engine,
        tfjsBackend: config.tfjsBackend,
        onnxThreads: config.onnxThreads,
        onnxGraph: config.onnxGraph,
        cacheBytes: config.engineCacheBytes,
      },
      config.inferenceWorkers,
    );
    this.slots = new EngineSlots(this.engines);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // Every host, by model name (sorted).
  get all(): ModelHost[] {
    return [...this.hosts.values()].sort((a, b) => ((a.name ?? '') < (b.name ?? '') ? -1 : 1));
  }

  // The host serving a model name, or undefined. A single model root's host answers for its model's name (and
  // for any name before its model is loaded).
  host(name: string): ModelHost | undefined {
    if (this.layout === 'repository') return this.hosts.get(name);
    const only = this.hosts.get('');
    return only && (only.name === undefined || only.name === name) ? only : undefined;
  }

  // The names of the models served (loaded or not), sorted.
  names(): string[] {
    return this.all.flatMap((h) => (h.name === undefined ? [] : [h.name]));
  }

  // Looks at SUPERNET_URI and loads every model found, then keeps looking every RELOAD_INTERVAL_MS. Resolves
  // after each model's first attempt, with its outcome (by model, sorted; none when no model was found).
  async start(): Promise<ReloadOutcome[]> {
    await this.look();
    const outcomes = await Promise.all(this.all.map((h) => h.start()));
    this.schedule();
    return outcomes;
  }

  // Looks for new and removed models once, then has every host look for a new version once.
  async reload(): Promise<void> {
    await this.look();
    await Promise.all(this.all.map((h) => h.start().then(() => h.reload())));
  }

  // Models that are not served because their version was refused (malformed or corrupt; they stay so until their
  // files change): they do not hold readiness back, so one bad model never stops the others.
  refused(): NotReadyModel[] {
    return this.all.flatMap((h) =>
      h.refusedOnly ? [{ model: h.name ?? '', reason: h.notReadyReason }] : [],
    );
  }

  // Ready when every model found at start (and still there) is loaded with a live slot or refused, and at least
  // one is loaded; what is not ready yet, and why.
  notReady(): NotReadyModel[] {
    if (this.closed) return [{ model: '*', reason: 'the server is shutting down' }];
    if (this.layout === undefined) {
      return [
        {
          model: '*',
          reason:
            this.lastError === undefined
              ? `looking for models at ${this.options.config.supernetUri}`
              : `no model found at ${this.options.config.supernetUri} yet: ${this.lastError}`,
        },
      ];
    }
    const waiting: NotReadyModel[] = [];
    let serving = 0;
    for (const [key, host] of this.hosts) {
      const live = host.isServing;
      if (live) serving++;
      else if (this.expected.has(key) && !host.refusedOnly)
        waiting.push({ model: host.name ?? key, reason: host.notReadyReason });
    }
    if (serving === 0 && waiting.length === 0) {
      waiting.push({ model: '*', reason: `no model is loaded from ${this.options.config.supernetUri} yet` });
    }
    return waiting;
  }

  // Resolves once ready; rejects when the repository closes first.
  whenReady(): Promise<void> {
    if (this.notReady().length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('model repository closed'));
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  // Stops looking, closes every host (each drains its requests) and the engines.
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const waiter of this.readyWaiters.splice(0)) waiter.reject(new Error('model repository closed'));
    await this.looking?.catch(() => {});
    await Promise.allSettled([...this.hosts.values()].map((h) => h.close()));
    await Promise.allSettled([...this.retiring]);
    await this.engines.dispose();
  }

  private look(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.looking ??= this.lookOnce().finally(() => {
      this.looking = undefined;
    });
    return this.looking;
  }

  private async lookOnce(): Promise<void> {
    const { config } = this.options;
    const store = openStore(config.supernetUri, { s3: config.s3 });
    try {
      if (this.layout === undefined && config.models !== undefined) {
        this.layout = 'repository';
        this.log.info(
          { uri: store.uri, models: config.models },
          `serving ${config.models.join(', ')} of the repository at ${store.uri}`,
        );
      }
      if (this.layout === undefined) {
        this.layout = await detectLayout(store);
        if (this.layout === undefined) {
          throw new Error(
            `${store.uri} holds neither manifest.json (a version folder), LATEST (a model root) nor model folders (a repository)`,
          );
        }
        this.log.info({ uri: store.uri, layout: this.layout }, `serving the ${this.layout} at ${store.uri}`);
      }
      if (this.layout !== 'repository') {
        if (!this.hosts.has('')) this.add('', config.supernetUri, undefined);
      } else {
        const listing =
          config.models === undefined
            ? await listRepository(store)
            : {
                models: config.models.map((name) => ({ name, uri: childUri(store.uri, name) })),
                skipped: [],
              };
        this.logSkipped(listing.skipped);
        const found = new Set(listing.models.map((m) => m.name));
        for (const { name, uri } of listing.models) if (!this.hosts.has(name)) this.add(name, uri, name);
        for (const name of [...this.hosts.keys()]) if (!found.has(name)) this.remove(name);
      }
      if (!this.firstLookDone) for (const key of this.hosts.keys()) this.expected.add(key);
      this.firstLookDone = true;
      this.lastError = undefined;
      this.loggedCause = undefined;
    } catch (error) {
      // Storage down, or nothing published yet: every model keeps serving what it has.
      const message = error instanceof Error ? error.message : String(error);
      this.lastError = message;
      const cause = `${isSupernetError(error) ? error.code : 'error'} ${message}`;
      const level = cause === this.loggedCause ? 'debug' : 'error';
      this.loggedCause = cause;
      this.log[level]({ err: error, uri: store.uri }, 'could not list the models (will retry)');
    }
    this.notifyIfReady();
  }

  private add(key: string, uri: string, name: string | undefined): void {
    const host = new ModelHost({
      config: this.options.config,
      uri,
      ...(name === undefined ? {} : { name }),
      log: this.options.log,
      ...(this.options.metrics ? { metrics: this.options.metrics } : {}),
      engines: this.engines,
      slots: this.slots,
      ...(this.options.wrapPool ? { wrapPool: this.options.wrapPool } : {}),
      onReady: () => this.notifyIfReady(),
    });
    this.hosts.set(key, host);
    if (name !== undefined) this.log.info({ model: name, uri }, `found model ${name}`);
    void host.start();
  }

  private remove(name: string): void {
    const host = this.hosts.get(name);
    if (!host) return;
    this.hosts.delete(name);
    this.expected.delete(name);
    this.log.info({ model: name }, `model ${name} left the repository; retiring it once its requests finish`);
    const done: Promise<void> = host.close().finally(() => this.retiring.delete(done));
    this.retiring.add(done);
  }

  private logSkipped(skipped: ReadonlyArray<{ child: string; reason: string }>): void {
    const now = new Map(skipped.map((s) => [s.child, s.reason]));
    for (const [child, reason] of now) {
      if (this.skipped.get(child) === reason) continue;
      this.log.warn({ child, reason }, `skipping ${child} in the repository: ${reason}`);
    }
    this.skipped.clear();
    for (const [child, reason] of now) this.skipped.set(child, reason);
  }

  private notifyIfReady(): void {
    if (this.notReady().length > 0) return;
    for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
  }

  private schedule(): void {
    if (this.closed) return;
    const interval = this.options.config.reloadIntervalMs;
    const delay = interval > 0 ? interval : this.layout === undefined ? INITIAL_RETRY_MS : 0;
    if (delay === 0) return;
    this.timer = setTimeout(() => {
      void this.look().finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }
}
