// Small DOM and formatting helpers shared by the pages.
import { lang, t } from './i18n.js';

/** Escapes text for insertion into HTML. */
export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

export function el(html) {
  const tpl = document.createElement('template');
  tpl.innerHTML = html.trim();
  return tpl.content.firstElementChild;
}

export const NS_PER_MS = 1e6;

export function fmtTime(ns, withDate = true) {
  if (ns === null || ns === undefined) return '';
  const d = new Date(ns / NS_PER_MS);
  const opts = withDate
    ? { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }
    : { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false };
  return d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', opts);
}

export function fmtAgo(ns) {
  const s = Math.max(0, (Date.now() - ns / NS_PER_MS) / 1000);
  if (s < 90) return t('ago.seconds', { n: Math.round(s) });
  if (s < 5400) return t('ago.minutes', { n: Math.round(s / 60) });
  if (s < 172800) return t('ago.hours', { n: Math.round(s / 3600) });
  return t('ago.days', { n: Math.round(s / 86400) });
}

export function fmtValue(v, unit) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    const a = Math.abs(v);
    const s = Number.isInteger(v) ? String(v) : a >= 1000 ? v.toFixed(1) : a >= 10 ? v.toFixed(2) : v.toFixed(3);
    return unit ? `${s} ${unit}` : s;
  }
  if (typeof v === 'boolean') return v ? t('value.true') : t('value.false');
  return String(v);
}

export const STATE_NAMES = { 0: 'state.down', 1: 'state.idle', 2: 'state.running' };
export function stateName(s) { return s === null || s === undefined ? t('state.unknown') : t(STATE_NAMES[s] ?? 'state.other', { n: s }); }

let toastTimer;
export function toast(message, isError = false) {
  const box = document.getElementById('toast');
  const d = document.createElement('div');
  d.textContent = message;
  if (isError) d.className = 'err';
  d.dataset.testid = isError ? 'toast-error' : 'toast';
  box.appendChild(d);
  clearTimeout(toastTimer);
  setTimeout(() => d.remove(), isError ? 9000 : 4000);
}

/** Runs an async action and shows its error (the server's detail names the field) instead of failing silently. */
export async function guard(action) {
  try { return await action(); } catch (e) { toast(e.message || String(e), true); return undefined; }
}

export function debounce(fn, ms) {
  let h;
  return (...a) => { clearTimeout(h); h = setTimeout(() => fn(...a), ms); };
}

export const RANGES = [
  { key: '1h', s: 3600 }, { key: '8h', s: 8 * 3600 }, { key: '24h', s: 86400 },
  { key: '7d', s: 7 * 86400 }, { key: '30d', s: 30 * 86400 }, { key: '1y', s: 365 * 86400 },
];

/** A bucket (seconds) giving at most ~maxPoints points over the span, rounded to a readable size. */
export function bucketFor(spanSeconds, maxPoints = 1200) {
  const raw = spanSeconds / maxPoints;
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  return steps.find(s => s >= raw) ?? Math.ceil(raw / 86400) * 86400;
}
