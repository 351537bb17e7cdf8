// One live connection per browser tab (GET api/live, server-sent events). Pages say which series they want with
// track(); every listener receives 'values', 'alarms', 'resync', 'hello' and 'state' (connected true/false).
import { openEvents } from './api.js';

const listeners = new Set();
let stream = null;
let current = '';

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Sets what the connection tracks: { series: [...], equipment: [...], tag: [...] }. Reconnects only on change. */
export function track(what = {}) {
  const q = new URLSearchParams();
  for (const k of ['series', 'equipment', 'tag']) for (const v of what[k] ?? []) q.append(k, v);
  const query = q.toString();
  if (stream && query === current) return;
  current = query;
  stream?.close();
  stream = openEvents(`api/live${query ? '?' + query : ''}`, (name, data) => emit(name, data), connected => {
    const dot = document.getElementById('live-status');
    dot.className = 'live-status ' + (connected ? 'on' : 'off');
    dot.dataset.connected = connected ? 'true' : 'false';
    emit('state', connected);
  });
}

function emit(name, data) {
  for (const l of listeners) {
    try { l(name, data); } catch (e) { console.error(e); }
  }
}
