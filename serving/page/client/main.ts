import { renderAnswer } from './answer-view.ts';
import {
  type Budget,
  describeModel,
  listModels,
  type ModelDescription,
  type PredictInput,
  predict,
  scrapeMetrics,
  takesPairs,
} from './api.ts';
import {
  accuracyAt,
  type BudgetScale,
  budgetScale,
  latencyAt,
  latencyPosition,
  memoryAt,
} from './budget-scale.ts';
import { CatalogPlot } from './catalog-plot.ts';
import { byId } from './dom.ts';
import { formatMs, formatPercent } from './format.ts';
import { renderLive } from './live-panel.ts';
import { LiveWindow, readScrape } from './live-stats.ts';
import { parsePrometheusText } from './prometheus-text.ts';

const METRICS_EVERY_MS = 1000;
const MODELS_EVERY_MS = 15_000;

const modelSelect = byId<HTMLSelectElement>('model');
const modelInfo = byId('model-info');
const form = byId<HTMLFormElement>('try');
const text = byId<HTMLTextAreaElement>('text');
const textPair = byId<HTMLTextAreaElement>('text-pair');
const pairBox = byId('pair-box');
const latency = byId<HTMLInputElement>('latency');
const memory = byId<HTMLInputElement>('memory');
const accuracy = byId<HTMLInputElement>('accuracy');
const send = byId<HTMLButtonElement>('send');
const sendNote = byId('send-note');
const answer = byId('answer');
const liveStatus = byId('live-status');

const plot = new CatalogPlot(byId('plot'), byId('legend'));
const live = new LiveWindow();
let model: ModelDescription | undefined;
let scale: BudgetScale | undefined;
let sending = false;

// The budget the sliders and the mode say now.
function currentBudget(): Budget {
  const mode = form.querySelector<HTMLInputElement>('input[name="mode"]:checked')?.value;
  if (scale === undefined) {
    return { latencyMs: undefined, memoryMb: undefined, minAccuracy: undefined, mode: 'best-effort' };
  }
  return {
    latencyMs: latencyAt(scale, latency.valueAsNumber),
    memoryMb: memoryAt(scale, memory.valueAsNumber),
    minAccuracy: accuracyAt(scale, accuracy.valueAsNumber),
    mode: mode === 'strict' ? 'strict' : 'best-effort',
  };
}

// Shows the budget beside the sliders and over the plot.
function showBudget(): void {
  const budget = currentBudget();
  byId('latency-out').textContent = budget.latencyMs === undefined ? 'none' : formatMs(budget.latencyMs);
  byId('memory-out').textContent =
    budget.memoryMb === undefined ? 'none' : `${budget.memoryMb.toFixed(1)} MiB`;
  byId('accuracy-out').textContent =
    budget.minAccuracy === undefined ? 'none' : `≥ ${formatPercent(budget.minAccuracy)}`;
  plot.setBudget(budget);
  if (model !== undefined && !sending) {
    const fitting = model.catalog.filter((p) => plot.fits(p)).length;
    sendNote.textContent = `${fitting} of ${model.catalog.length} points fit on an idle server`;
  }
}

// Loads a model's description: the plot, the slider scales and the input boxes follow it.
async function loadModel(name: string): Promise<void> {
  const described = await describeModel(name);
  if (!('catalog' in described)) {
    modelInfo.textContent = `${name}: ${described.detail || described.title} (retrying)`;
    setTimeout(() => void loadModel(name), 1000);
    return;
  }
  const sameModel = model?.name === described.name;
  model = described;
  scale = budgetScale(described.catalog);
  if (!sameModel) {
    // Start in the middle of the catalog's latencies, with no memory budget and no floor.
    const latencies = described.catalog.map((p) => p.calibratedLatencyMs);
    latency.max = String(scale.latency.steps);
    latency.value = String(
      latencyPosition(scale, Math.sqrt(Math.min(...latencies) * Math.max(...latencies))),
    );
    memory.max = String(scale.memory.steps);
    memory.value = memory.max;
    accuracy.max = String(scale.accuracy.steps);
    accuracy.value = '0';
    live.clear();
    plot.setChosen(undefined);
  }
  plot.setCatalog(described.catalog, [scale.latency.minMs, scale.latency.maxMs]);
  const pairs = takesPairs(described);
  pairBox.hidden = !pairs;
  byId('text-label').textContent = pairs ? 'First text of the pair' : 'Text';
  const { host } = described;
  modelInfo.textContent =
    `version ${described.version} · ${described.labels.length} labels (${described.labels.join(', ')}) · ` +
    `${described.catalog.length} operating points · ${host.engine} on ${host.workers === 0 ? 'the main thread' : `${host.workers} worker${host.workers === 1 ? '' : 's'}`}, calibrated in ${host.calibrationMs} ms`;
  send.disabled = false;
  showBudget();
}

// Lists the models (retrying until one is served) and keeps the chosen one's description current.
async function refreshModels(): Promise<void> {
  let models: Awaited<ReturnType<typeof listModels>>;
  try {
    models = await listModels();
  } catch (error) {
    modelInfo.textContent = `The server did not list its models: ${(error as Error).message} (retrying)`;
    setTimeout(() => void refreshModels(), 2000);
    return;
  }
  if (models.length === 0) {
    modelInfo.textContent =
      'No model is ready yet: the server loads and calibrates its models at start (retrying)';
    setTimeout(() => void refreshModels(), 1000);
    return;
  }
  const wanted = model?.name ?? new URLSearchParams(location.hash.slice(1)).get('model') ?? undefined;
  modelSelect.replaceChildren(
    ...models.map((m) => new Option(`${m.name} (${m.operatingPoints} points)`, m.name)),
  );
  const chosen = models.find((m) => m.name === wanted) ?? models[0]!;
  modelSelect.value = chosen.name;
  modelSelect.disabled = models.length < 2;
  if (model?.name !== chosen.name || model.version !== chosen.version) await loadModel(chosen.name);
}

async function submit(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  if (model === undefined || sending) return;
  const first = text.value.trim();
  const second = textPair.value.trim();
  const pairs = !pairBox.hidden;
  if (first === '' || (pairs && second === '')) {
    sendNote.textContent = pairs ? 'Type both texts first' : 'Type a text first';
    (first === '' ? text : textPair).focus();
    return;
  }
  const input: PredictInput = pairs ? { text: first, text_pair: second } : first;
  sending = true;
  send.disabled = true;
  sendNote.textContent = 'Sending…';
  try {
    const result = await predict(model.name, input, currentBudget());
    renderAnswer(answer, result);
    if (result.ok) plot.setChosen(result.answer.subnet.id);
    sendNote.textContent = '';
  } catch (error) {
    sendNote.textContent = `The request failed: ${(error as Error).message}`;
  } finally {
    sending = false;
    send.disabled = false;
    showBudget();
  }
}

// Reads /metrics every second (every five while the page is hidden).
async function pollMetrics(): Promise<void> {
  try {
    const samples = parsePrometheusText(await scrapeMetrics());
    if (model !== undefined) {
      live.add(readScrape(samples, performance.now(), model.name));
      const view = live.view();
      renderLive(view);
      plot.setTraffic(new Map(view.points.map((p) => [p.id, p.share])));
      liveStatus.textContent = `From /metrics, every second · updated ${new Date().toLocaleTimeString('en-GB')}`;
    }
  } catch (error) {
    liveStatus.textContent = `/metrics did not answer: ${(error as Error).message}`;
  } finally {
    setTimeout(() => void pollMetrics(), document.hidden ? 5 * METRICS_EVERY_MS : METRICS_EVERY_MS);
  }
}

for (const slider of [latency, memory, accuracy]) slider.addEventListener('input', showBudget);
form.addEventListener('change', showBudget);
form.addEventListener('submit', (event) => void submit(event));
modelSelect.addEventListener('change', () => {
  history.replaceState(null, '', `#model=${encodeURIComponent(modelSelect.value)}`);
  void loadModel(modelSelect.value);
});
setInterval(() => void refreshModels(), MODELS_EVERY_MS);
void refreshModels();
void pollMetrics();
