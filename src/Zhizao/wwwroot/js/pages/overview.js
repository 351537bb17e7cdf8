// Plant overview: KPI tiles, the asset tree with state colours and alarm counts, equipment tiles per line.
import { api } from '../api.js';
import { track, subscribe } from '../live.js';
import { t } from '../i18n.js';
import { esc, debounce, stateName, fmtAgo } from '../util.js';

const LEVELS = ['Enterprise', 'Site', 'Area', 'Line', 'Cell', 'Equipment'];

export async function mount(main) {
  main.innerHTML = `
    <h1 data-testid="page-title">${esc(t('overview.title'))}</h1>
    <div class="kpis" id="kpis"></div>
    <div class="grid cols-2">
      <section class="panel tree" id="tree" data-testid="asset-tree"></section>
      <section id="lines"></section>
    </div>`;
  let overview = await api('api/overview');
  const byId = new Map();
  render();

  track({ tag: ['state'] });
  const refresh = debounce(async () => { overview = await api('api/overview'); render(); }, 400);
  const off = subscribe((name, data) => {
    if (name === 'alarms' || name === 'resync') refresh();
    if (name === 'values') {
      for (const v of data) {
        const id = v.series.slice(0, v.series.lastIndexOf('/'));
        const eq = byId.get(id);
        if (eq && eq.state !== v.v) { eq.state = v.v; eq.stateTimeNs = v.t; paintState(id, v.v); }
      }
      paintKpis();
    }
  });

  function render() {
    byId.clear();
    for (const e of overview.equipment) byId.set(e.id, e);
    paintKpis();
    renderTree();
    renderLines();
  }

  function paintKpis() {
    const eq = overview.equipment;
    const count = s => eq.filter(e => e.state === s).length;
    const tiles = [
      ['kpi.equipment', eq.length, 'kpi-equipment'],
      ['kpi.running', count(2), 'kpi-running'],
      ['kpi.idle', count(1), 'kpi-idle'],
      ['kpi.down', count(0), 'kpi-down', count(0) > 0],
      ['kpi.activeAlarms', overview.activeAlarms, 'kpi-active', overview.activeAlarms > 0],
      ['kpi.unacked', overview.unacknowledged, 'kpi-unacked', overview.unacknowledged > 0],
      ['kpi.series', overview.series.toLocaleString(), 'kpi-series'],
      ['kpi.points', overview.points.toLocaleString(), 'kpi-points'],
    ];
    document.getElementById('kpis').innerHTML = tiles.map(([k, v, id, alert]) =>
      `<div class="kpi${alert ? ' alert' : ''}"><div class="v" data-testid="${id}">${esc(v)}</div><div class="l">${esc(t(k))}</div></div>`).join('');
  }

  function children(parentId) {
    return overview.assets.filter(a => (a.parentId ?? null) === parentId)
      .sort((a, b) => LEVELS.indexOf(a.level) - LEVELS.indexOf(b.level) || a.id.localeCompare(b.id));
  }

  function renderTree() {
    const node = a => {
      const eq = byId.get(a.id);
      const kids = children(a.id);
      const badge = eq && eq.activeAlarms > 0 ? ` <span class="pill alarm">${eq.activeAlarms}</span>` : '';
      const dot = a.level === 'Equipment' ? `<span class="dot s${eq?.state ?? 'x'}" data-state-dot="${esc(a.id)}"></span>` : '';
      const label = `<span class="node" data-id="${esc(a.id)}" data-level="${a.level}">${dot}${esc(a.name)} <span class="lvl">${esc(t('level.' + a.level))}</span>${badge}</span>`;
      return `<li>${label}${kids.length ? `<ul>${kids.map(node).join('')}</ul>` : ''}</li>`;
    };
    const roots = overview.assets.filter(a => !a.parentId || !overview.assets.some(p => p.id === a.parentId));
    const tree = document.getElementById('tree');
    tree.innerHTML = `<h2>${esc(t('overview.assets'))}</h2>` +
      (roots.length ? `<ul>${roots.map(node).join('')}</ul>` : `<p class="muted">${esc(t('overview.noAssets'))}</p>`);
    tree.onclick = e => {
      const n = e.target.closest('.node');
      if (n && n.dataset.level === 'Equipment') location.hash = `#/equipment/${encodeURIComponent(n.dataset.id)}`;
    };
  }

  function renderLines() {
    const groups = new Map();
    for (const e of overview.equipment) {
      const key = e.parentId ?? '';
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(e);
    }
    const name = id => overview.assets.find(a => a.id === id)?.name ?? t('overview.unplaced');
    document.getElementById('lines').innerHTML = [...groups.entries()].sort().map(([parent, list]) => `
      <div class="panel"><h2>${esc(name(parent))}</h2><div class="tiles">${list.sort((a, b) => a.id.localeCompare(b.id)).map(e => `
        <a class="tile s${e.state ?? 'x'}" href="#/equipment/${encodeURIComponent(e.id)}" data-testid="tile-${esc(e.id)}" data-tile="${esc(e.id)}">
          <div class="name">${esc(e.name)}</div>
          <div class="meta"><span data-state-text="${esc(e.id)}">${esc(stateName(e.state))}</span>
          ${e.activeAlarms ? `<span class="prio ${e.highestPriority}">${e.activeAlarms}</span>` : ''}</div>
          <div class="meta"><span>${esc(e.id)}</span><span>${e.stateTimeNs ? esc(fmtAgo(e.stateTimeNs)) : ''}</span></div>
        </a>`).join('')}</div></div>`).join('') || `<p class="muted">${esc(t('overview.noEquipment'))}</p>`;
  }

  function paintState(id, state) {
    for (const d of document.querySelectorAll(`[data-state-dot="${CSS.escape(id)}"]`)) d.className = `dot s${state}`;
    const tile = document.querySelector(`[data-tile="${CSS.escape(id)}"]`);
    if (tile) tile.className = `tile s${state}`;
    const txt = document.querySelector(`[data-state-text="${CSS.escape(id)}"]`);
    if (txt) txt.textContent = stateName(state);
  }

  return { unmount() { off(); } };
}
