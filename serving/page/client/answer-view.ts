import type { PredictResult } from './api.ts';
import { html, setBar } from './dom.ts';
import { formatMiB, formatMs, formatPercent } from './format.ts';
import { parseServerTiming } from './server-timing.ts';

// Shows an answer of predict: the label and every label's score, the point chosen, whether the budget was met
// and where the server's time went (Server-Timing); or the problem the API answered.
export function renderAnswer(container: HTMLElement, result: PredictResult): void {
  if (!result.ok) {
    const { problem } = result;
    container.replaceChildren(
      html(
        'div',
        { class: 'problem', attrs: { role: 'alert' } },
        html('p', { class: 'problem-title' }, `${problem.status} ${problem.title}`),
        html('p', {}, html('code', { attrs: { id: 'answer-problem-code' } }, problem.code)),
        html('p', {}, problem.detail),
        html('p', { class: 'muted' }, `round trip ${formatMs(result.roundTripMs)}`),
      ),
    );
    return;
  }
  const { answer } = result;
  const output = answer.outputs[0];
  const scores = Object.entries(output?.scores ?? {}).sort((a, b) => b[1] - a[1]);
  const { budget, subnet } = answer;
  const applied = [
    budget.latencyMs === null ? 'no latency budget' : `latency ≤ ${formatMs(budget.latencyMs)}`,
    budget.memoryMb === null ? 'no memory budget' : `memory ≤ ${budget.memoryMb} MiB`,
    budget.minAccuracy === null ? 'no accuracy floor' : `accuracy ≥ ${formatPercent(budget.minAccuracy)}`,
    budget.mode,
  ].join(' · ');

  container.replaceChildren(
    html(
      'div',
      { class: 'verdict' },
      html('span', { class: 'verdict-label', attrs: { id: 'answer-label' } }, output?.label ?? '—'),
      html('span', { class: 'verdict-score' }, output === undefined ? '' : formatPercent(output.score)),
      html(
        'span',
        {
          class: `badge ${budget.met ? 'met' : 'missed'}`,
          attrs: { id: 'answer-budget', 'data-met': String(budget.met) },
        },
        budget.met ? 'budget met' : 'budget missed',
      ),
    ),
    html(
      'ul',
      { class: 'scores' },
      ...scores.map(([label, score]) => {
        const fill = html('span', { class: 'bar-fill' });
        setBar(fill, score);
        return html(
          'li',
          {},
          html('span', { class: 'score-label' }, label),
          html('span', { class: 'bar' }, fill),
          html('span', { class: 'score-value' }, formatPercent(score)),
        );
      }),
    ),
    html(
      'dl',
      { class: 'facts' },
      html('dt', {}, 'Operating point'),
      html('dd', {}, html('code', { attrs: { id: 'answer-point' } }, subnet.id)),
      html('dt', {}, 'Dev accuracy'),
      html('dd', {}, formatPercent(subnet.accuracy, 2)),
      html('dt', {}, 'Predicted server time'),
      html('dd', {}, formatMs(subnet.expectedLatencyMs)),
      html('dt', {}, 'Memory, this request'),
      html('dd', {}, formatMiB(subnet.memoryBytes)),
      html('dt', {}, 'Budget'),
      html('dd', {}, applied),
    ),
    timingView(result.serverTiming, result.roundTripMs),
  );
}

// Server-Timing as a stacked bar: queue, inference, and the rest of the server's time.
function timingView(header: string | null, roundTripMs: number): HTMLElement {
  const entries = new Map(parseServerTiming(header).map((e) => [e.name, e.durationMs]));
  const total = entries.get('total');
  const queue = entries.get('queue') ?? 0;
  const inference = entries.get('inference') ?? 0;
  if (total === undefined || total <= 0) {
    return html('p', { class: 'muted' }, `No Server-Timing; round trip ${formatMs(roundTripMs)}`);
  }
  const other = Math.max(0, total - queue - inference);
  const parts = [
    { name: 'queue', ms: queue },
    { name: 'inference', ms: inference },
    { name: 'other', ms: other },
  ];
  const bar = html('div', { class: 'timing-bar', attrs: { 'aria-hidden': 'true' } });
  for (const part of parts) {
    const segment = html('span', { class: `seg ${part.name}` });
    setBar(segment, part.ms / total);
    bar.append(segment);
  }
  return html(
    'div',
    { class: 'timing' },
    html('h3', {}, 'Server-Timing'),
    bar,
    html(
      'ul',
      { class: 'timing-legend', attrs: { id: 'answer-timing' } },
      ...parts.map((p) =>
        html('li', {}, html('span', { class: `dot ${p.name}` }), `${p.name} ${formatMs(p.ms)}`),
      ),
      html(
        'li',
        { class: 'total' },
        `total ${formatMs(total)} on the server, ${formatMs(roundTripMs)} round trip`,
      ),
    ),
  );
}
