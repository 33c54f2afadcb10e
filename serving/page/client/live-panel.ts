import { byId, html, setBar } from './dom.ts';
import { formatCount, formatPercent } from './format.ts';
import type { LiveView } from './live-stats.ts';

// The live tiles and the list of points served, from a LiveView.
export function renderLive(view: LiveView): void {
  byId('live-rps').textContent =
    view.requestsPerSecond === undefined
      ? '–'
      : view.requestsPerSecond.toFixed(view.requestsPerSecond < 10 ? 1 : 0);
  byId('live-rps-note').textContent =
    view.requestsPerSecond === undefined
      ? 'waiting for a second scrape'
      : `inference, last ${Math.round(view.rateSpanS)} s`;
  byId('live-met').textContent =
    view.budgetsMetShare === undefined ? '–' : formatPercent(view.budgetsMetShare);
  byId('live-met-note').textContent =
    view.budgetsCounted === 0
      ? `no request in the last ${Math.round(view.windowS)} s`
      : `of ${formatCount(view.budgetsCounted)} in the last ${Math.round(view.windowS)} s`;
  byId('live-util').textContent = view.utilization === undefined ? '–' : formatPercent(view.utilization, 0);
  setBar(byId('live-util-bar'), view.utilization ?? 0);
  byId('live-queue').textContent = view.queueLength === undefined ? '–' : formatCount(view.queueLength);

  const served = byId('served');
  if (view.points.length === 0) {
    served.replaceChildren(html('li', { class: 'muted empty' }, 'No inference request yet in this window.'));
    return;
  }
  served.replaceChildren(
    ...view.points.slice(0, 8).map((p) => {
      const fill = html('span', { class: 'bar-fill' });
      setBar(fill, p.share);
      return html(
        'li',
        { attrs: { 'data-point-id': p.id } },
        html('code', {}, p.id),
        html('span', { class: 'bar' }, fill),
        html('span', { class: 'served-count' }, `${formatCount(p.count)} · ${formatPercent(p.share, 0)}`),
      );
    }),
  );
}
