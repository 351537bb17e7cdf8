// Trend charts with uPlot (installed from npm by the build). Data comes from api/query/aggregate with a bucket that
// keeps every request at about a thousand points, so a year of 1 Hz data draws as fast as an hour.
import { api } from './api.js';
import { esc, bucketFor } from './util.js';
import { t } from './i18n.js';

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

/** Reads aggregates of several series over [fromNs, toNs) aligned on one time axis (seconds) for uPlot. */
export async function loadAggregates(keys, fromNs, toNs, maxPoints = 1200) {
  const span = (toNs - fromNs) / 1e9;
  const bucket = bucketFor(span, maxPoints);
  const q = k => `api/query/aggregate?series=${encodeURIComponent(k)}&from=${Math.floor(fromNs)}&to=${Math.ceil(toNs)}&bucket=${bucket}s`;
  const results = await Promise.all(keys.map(k => api(q(k))));
  const xs = new Set();
  for (const r of results) for (const b of r.buckets) if (b.count > 0) xs.add(b.startNs);
  const x = [...xs].sort((a, b) => a - b);
  const index = new Map(x.map((v, i) => [v, i]));
  const columns = results.map(r => {
    const col = { avg: new Array(x.length).fill(null), min: new Array(x.length).fill(null), max: new Array(x.length).fill(null), last: new Array(x.length).fill(null) };
    for (const b of r.buckets) {
      if (b.count === 0) continue;
      const i = index.get(b.startNs);
      col.avg[i] = b.avg; col.min[i] = b.min; col.max[i] = b.max; col.last[i] = b.last;
    }
    return col;
  });
  return { bucket, x: x.map(v => v / 1e9), columns };
}

/** A multi-series trend with drag-to-zoom (re-reads finer data) and double-click to go back. */
export class Trend {
  constructor(container, { onZoom, onReset } = {}) {
    this.container = container;
    this.onZoom = onZoom;
    this.onReset = onReset;
    this.plot = null;
    this.resize = new ResizeObserver(() => this.plot?.setSize(this.size()));
    this.resize.observe(container);
  }

  size() { return { width: Math.max(300, this.container.clientWidth), height: 320 }; }

  /** labels: display names; data from loadAggregates; units: one per series (series of one unit share a y-axis). */
  draw(labels, data, units = []) {
    this.plot?.destroy();
    this.plot = null;
    if (!window.uPlot) {
      this.container.innerHTML = `<p class="muted">${esc(t('chart.missing'))}</p>`;
      return;
    }
    this.container.innerHTML = '';
    if (data.x.length === 0) {
      this.container.innerHTML = `<p class="muted" data-testid="chart-empty">${esc(t('chart.nodata'))}</p>`;
      return;
    }
    // one y scale per unit, so a 30,000 kWh counter does not flatten a 130 kW power trend; the first two get axes
    const scaleOf = i => `y-${units[i] ?? ''}-${units[i] ? '' : i}`;
    const scales = [...new Set(labels.map((_, i) => scaleOf(i)))];
    const series = [{}];
    const values = [data.x];
    labels.forEach((label, i) => {
      series.push({ label, scale: scaleOf(i), stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false, points: { show: false } });
      values.push(data.columns[i].avg);
    });
    const axisSize = (u, vals) => 12 + 7.5 * Math.max(3, ...(vals ?? []).map(v => String(v).length));
    const axes = [{}, ...scales.slice(0, 2).map((scale, k) => {
      const i = labels.findIndex((_, j) => scaleOf(j) === scale);
      return { scale, side: k === 0 ? 3 : 1, size: axisSize, stroke: scales.length > 1 ? PALETTE[i % PALETTE.length] : undefined, grid: { show: k === 0 }, label: units[i] || undefined, labelSize: 18 };
    })];
    const self = this;
    this.plot = new window.uPlot({
      ...this.size(),
      series,
      axes,
      cursor: { drag: { x: true, y: false, setScale: false } },
      scales: Object.fromEntries([['x', { time: true }], ...scales.map(k => [k, { auto: true }])]),
      legend: { live: true },
      hooks: {
        setSelect: [u => {
          if (u.select.width > 4 && self.onZoom) {
            const min = u.posToVal(u.select.left, 'x'), max = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
            self.onZoom(min * 1e9, max * 1e9);
          }
        }],
        ready: [u => u.over.addEventListener('dblclick', () => self.onReset?.())],
      },
    }, values, this.container);
    this.container.dataset.points = String(data.x.length);
  }

  destroy() { this.resize.disconnect(); this.plot?.destroy(); }
}

/** Draws a state timeline (0 down, 1 idle, 2 running) from aggregates of a state tag: per bucket, the worst state. */
export function drawTimeline(container, data) {
  container.innerHTML = '';
  const { x, columns } = data;
  if (x.length === 0) return;
  const from = x[0], to = x[x.length - 1] + data.bucket, span = to - from;
  const col = columns[0];
  let start = 0;
  const colour = s => s === 0 ? 'var(--down)' : s === 1 ? 'var(--idle)' : s === 2 ? 'var(--run)' : 'var(--unknown)';
  for (let i = 1; i <= x.length; i++) {
    if (i < x.length && col.min[i] === col.min[start] && x[i] - x[i - 1] <= data.bucket * 1.5) continue;
    const end = i < x.length ? x[i] : to;
    const s = document.createElement('span');
    s.style.left = `${((x[start] - from) / span) * 100}%`;
    s.style.width = `${Math.max(0.1, ((end - x[start]) / span) * 100)}%`;
    s.style.background = colour(col.min[start]);
    s.title = `${new Date(x[start] * 1000).toLocaleString()} — ${col.min[start]}`;
    container.appendChild(s);
    start = i;
  }
}
