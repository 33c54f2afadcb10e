import type { Logger } from 'pino';
import { ArtifactError, isSupernetError } from '../src/errors.ts';
import { type ArtifactSource, openArtifactSource } from './artifact-source.ts';
import type { ServingConfig } from './config.ts';
import type { EngineSlots } from './engine-slots.ts';
import type { EnginePool } from './inference-pool.ts';
import type { ServingMetrics } from './serving-metrics.ts';
import { ServingModel, type ServingModelOptions } from './serving-model.ts';

// How often a host with nothing loaded retries when RELOAD_INTERVAL_MS is 0 (it must become ready some time).
const INITIAL_RETRY_MS = 5000;

// Errors that refuse a version (it is malformed or corrupt) until its files change; anything else (storage down,
// LATEST naming a version not yet written) is retried at every poll.
const REFUSING_CODES = new Set([
  'MALFORMED_MANIFEST',
  'UNSUPPORTED_FORMAT_VERSION',
  'CHECKSUM_MISMATCH',
  'TRUNCATED_FILE',
  'INVALID_ARTIFACT',
  'INVALID_SUPERNET_CONFIG',
  'INVALID_SUBNET',
  'SUBNET_OUT_OF_RANGE',
  'MISSING_WEIGHT',
  'UNEXPECTED_WEIGHT',
  'WEIGHT_SHAPE_MISMATCH',
  'INVALID_VOCABULARY',
  'INVALID_TOKENIZER_OPTIONS',
]);

// A refused version is read again once its files change (size, modification time or ETag), with a backoff between
// attempts: the first change is looked at the next poll, later ones after 1 s, 2 s, 4 s... up to MAX_RETRY_BACKOFF_MS.
const RETRY_BACKOFF_MS = 1000;
const MAX_RETRY_BACKOFF_MS = 5 * 60_000;

// A refused version: its files as they were when it was read, how often it was refused, and when it may be read
// again (once its files change).
interface Refusal {
  fingerprint: string;
  refusals: number;
  retryAt: number;
}

// What one look at the artifact did.
export type ReloadOutcome = 'loaded' | 'unchanged' | 'refused' | 'failed' | 'busy' | 'closed';

// What a host needs.
export interface ModelHostOptions {
  config: ServingConfig;
  // The model root (it holds LATEST) or version folder this host serves.
  uri: string;
  // The name the model must have (its folder's, in a repository); undefined: whatever its manifest says.
  name?: string;
  log: Logger;
  metrics?: ServingMetrics;
  // The engines and slots every model of the server shares.
  engines: EnginePool;
  slots: EngineSlots;
  wrapPool?: ServingModelOptions['wrapPool'];
  // Called after every version loaded.
  onReady?: () => void;
}

// Owns one served model: loads it at start, polls LATEST and swaps in a verified, calibrated new version
// atomically (requests in flight finish on the version they started on, which is then retired), refuses a bad
// version and keeps the old one, and drains everything on close.
export class ModelHost {
  private readonly options: ModelHostOptions;
  private readonly log: Logger;
  private source: ArtifactSource | undefined;
  private current: ServingModel | undefined;
  private readonly refused = new Map<string, Refusal>();
  private readonly retiring = new Set<Promise<void>>();
  private loading: Promise<ReloadOutcome> | undefined;
  private firstAttempt: Promise<ReloadOutcome> | undefined;
  private lastOutcome: ReloadOutcome | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readyWaiters: Array<{ resolve(model: ServingModel): void; reject(error: Error): void }> = [];
  private lastError: string | undefined;
  // The last load failure logged at error, so that one that repeats at every poll is logged once per change of cause.
  private loggedCause: string | undefined;

  constructor(options: ModelHostOptions) {
    this.options = options;
    this.log = options.log.child({
      component: 'model-host',
      ...(options.name ? { model: options.name } : {}),
    });
  }

  // The model's name: its folder's in a repository, else its manifest's once loaded.
  get name(): string | undefined {
    return this.options.name ?? this.current?.name;
  }

  // The model root or version folder served.
  get uri(): string {
    return this.options.uri;
  }

  // The model serving new requests, or undefined before the first load.
  get model(): ServingModel | undefined {
    return this.current;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // Why the host is not ready, when it is not.
  get notReadyReason(): string {
    if (this.closed) return 'the server is shutting down';
    if (this.current && this.current.scheduler.liveSlots === 0) {
      return 'no inference worker is alive; they are being restarted';
    }
    if (this.current) return 'ready';
    return this.lastError === undefined
      ? 'the supernet is loading and calibrating'
      : `the supernet could not be loaded yet: ${this.lastError}`;
  }

  // Loads the supernet (resolves after the first attempt, loaded or not), then keeps polling for new versions.
  start(): Promise<ReloadOutcome> {
    this.firstAttempt ??= this.reload().then((outcome) => {
      this.schedule();
      return outcome;
    });
    return this.firstAttempt;
  }

  // Whether the model answers requests now: loaded, with a live worker, and the host open.
  get isServing(): boolean {
    return this.current !== undefined && !this.closed && this.current.scheduler.liveSlots > 0;
  }

  // Whether nothing is served because the version to serve was refused (malformed or corrupt): it stays so until
  // its files change, unlike a load that failed (storage down) and is retried.
  get refusedOnly(): boolean {
    return this.current === undefined && this.lastOutcome === 'refused';
  }

  // Resolves once the first attempt to load is over (loaded or not).
  async whenTried(): Promise<void> {
    await this.firstAttempt;
  }

  // Resolves with the model once one is loaded; rejects when the host closes first.
  whenReady(): Promise<ServingModel> {
    if (this.current) return Promise.resolve(this.current);
    if (this.closed) return Promise.reject(new Error('model host closed'));
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  // Looks at the artifact once: loads the version LATEST names when it is new (and not refused before).
  reload(): Promise<ReloadOutcome> {
    if (this.closed) return Promise.resolve('closed');
    if (this.loading) return Promise.resolve('busy');
    // loadIfNew never throws. Whoever hears of a load hears of it once the host can look again.
    this.loading = this.loadIfNew().then((outcome) => {
      this.loading = undefined;
      if (outcome !== 'unchanged') this.lastOutcome = outcome;
      if (outcome === 'loaded') this.options.onReady?.();
      return outcome;
    });
    return this.loading;
  }

  // Stops polling, waits for a load in progress, drains and frees every version.
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const waiter of this.readyWaiters.splice(0)) waiter.reject(new Error('model host closed'));
    await this.loading?.catch(() => {});
    const last = this.current;
    if (last) this.retire(last);
    await Promise.allSettled([...this.retiring]);
  }

  private schedule(): void {
    if (this.closed) return;
    const interval = this.options.config.reloadIntervalMs;
    const delay = interval > 0 ? interval : this.current ? 0 : INITIAL_RETRY_MS;
    if (delay === 0) return;
    this.timer = setTimeout(() => {
      void this.reload().finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  private async loadIfNew(): Promise<ReloadOutcome> {
    const { config } = this.options;
    let version: string | undefined;
    // The version's files as they were before it was read (a refusal keeps them, to see when they change).
    let fingerprint: string | undefined;
    try {
      this.source ??= await openArtifactSource(this.options.uri, {
        s3: config.s3,
        maxWeightBytes: config.maxArtifactBytes,
        cacheDir: config.artifactCacheDir,
      });
      if (this.source.kind === 'version' && this.current) return 'unchanged';
      version = await this.source.latestVersion();
      if (this.current && version === this.current.version) return 'unchanged';
      fingerprint = await this.source.fingerprint(version);
      const refusal = this.refused.get(version ?? '');
      if (refusal !== undefined) {
        if (fingerprint === refusal.fingerprint || performance.now() < refusal.retryAt) return 'refused';
        this.log.info(
          { version, refusals: refusal.refusals },
          `the files of refused supernet version ${version} changed; reading it again`,
        );
      }
      const started = performance.now();
      this.log.info({ uri: this.source.uri, version }, 'loading supernet');
      const supernet = await this.source.read(version);
      this.checkName(supernet.manifest.model, version);
      const model = await ServingModel.create(supernet, {
        config,
        engines: this.options.engines,
        slots: this.options.slots,
        ...(this.options.wrapPool ? { wrapPool: this.options.wrapPool } : {}),
        onBatch: (report) =>
          this.options.metrics?.batchTexts.observe(
            { model: supernet.manifest.model, subnet: report.point.id },
            report.texts,
          ),
        log: (message, fields) => this.log.info(fields ?? {}, message),
      });
      if (this.closed) {
        await model.retire();
        return 'closed';
      }
      const previous = this.current;
      this.current = model;
      this.lastError = undefined;
      this.loggedCause = undefined;
      if (version !== undefined) this.refused.delete(version);
      if (previous) this.retire(previous);
      this.options.metrics?.reloads.inc({ model: model.name, outcome: 'loaded' });
      this.log.info(
        {
          model: model.name,
          version: model.version,
          previous: previous?.version,
          operatingPoints: model.points.length,
          calibrationMs: Math.round(model.calibration.elapsedMs),
          calibrationSamples: model.calibration.samples,
          readyMs: Math.round(performance.now() - started),
        },
        previous ? 'swapped in a new supernet version' : 'supernet ready',
      );
      for (const waiter of this.readyWaiters.splice(0)) waiter.resolve(model);
      return 'loaded';
    } catch (error) {
      const code = isSupernetError(error) ? error.code : undefined;
      const message = error instanceof Error ? error.message : String(error);
      this.lastError = message;
      const refuse =
        version !== undefined && fingerprint !== undefined && code !== undefined && REFUSING_CODES.has(code);
      if (refuse) {
        const refusals = (this.refused.get(version!)?.refusals ?? 0) + 1;
        const backoff =
          refusals === 1 ? 0 : Math.min(MAX_RETRY_BACKOFF_MS, RETRY_BACKOFF_MS * 2 ** (refusals - 2));
        this.refused.set(version!, {
          fingerprint: fingerprint!,
          refusals,
          retryAt: performance.now() + backoff,
        });
      }
      this.options.metrics?.reloads.inc({
        model: this.name ?? 'unknown',
        outcome: refuse ? 'refused' : 'failed',
      });
      // Logged at error once per change of cause (code, version and message); a repeat at every poll at debug.
      const cause = `${code ?? 'error'} ${version ?? ''} ${message}`;
      const level = cause === this.loggedCause ? 'debug' : 'error';
      this.loggedCause = cause;
      this.log[level](
        { err: error, code, version, serving: this.current?.version },
        refuse
          ? `refused supernet version ${version} until its files change; ${this.current ? `still serving ${this.current.version}` : 'nothing to serve'}`
          : 'could not load the supernet (will retry)',
      );
      return refuse ? 'refused' : 'failed';
    }
  }

  // In a repository, a model's manifest must name the folder it is in (requests name the folder).
  private checkName(manifestName: string, version: string | undefined): void {
    const expected = this.options.name;
    if (expected === undefined || manifestName === expected) return;
    throw new ArtifactError(
      'MALFORMED_MANIFEST',
      `${this.options.uri}${version ? `/${version}` : ''}/manifest.json names model '${manifestName}', but it sits in the folder of model '${expected}': a model's folder must be its name`,
    );
  }

  private retire(model: ServingModel): void {
    const done: Promise<void> = model
      .retire()
      .catch((error: unknown) => this.log.error({ err: error, version: model.version }, 'retiring failed'))
      .finally(() => this.retiring.delete(done));
    this.retiring.add(done);
  }
}
