// Equipment health and maintenance: health index per equipment (models trained on a chosen period of the node's own
// data), remaining useful life per equipment type with its band, anomaly events with the tags behind them, work orders, and ISO 22400 KPIs (MTBF, MTTR, availability).
import { api } from '../api.js';
import { track, subscribe } from '../live.js';
import { t } from '../i18n.js';
import { esc, fmtTime, fmtAgo, guard, toast, debounce } from '../util.js';

const PERIODS = ['1h', '8h', '24h', '7d'];

export async function mount(main) {
  main.innerHTML = `
    <h1 data-testid="page-title">${esc(t('health.title'))}</h1>
    <section class="panel"><div class="btns" style="justify-content:space-between"><h2>${esc(t('health.equipment'))}</h2>
      <span class="btns">${esc(t('health.trainOn'))} <select id="period">${PERIODS.map(p => `<option value="${p}" ${p === '24h' ? 'selected' : ''}>${esc(t('range.' + p))}</option>`).join('')}</select></span></div>
      <table><thead><tr><th>${esc(t('col.equipment'))}</th><th>${esc(t('health.index'))}</th><th>${esc(t('health.rul'))}</th><th>${esc(t('health.model'))}</th><th>${esc(t('health.lastAnomaly'))}</th><th></th></tr></thead>
      <tbody id="health" data-testid="health-table"></tbody></table></section>
    <section class="panel"><div class="btns" style="justify-content:space-between"><h2>${esc(t('health.rulModels'))}</h2>
      <span class="btns">${esc(t('health.trainOn'))} <select id="rulPeriod">${['7d', '30d'].map(p => `<option value="${p}">${esc(t('range.' + p))}</option>`).join('')}</select></span></div>
      <table><tbody id="rul" data-testid="rul-models"></tbody></table><p class="muted">${esc(t('health.rulHelp', { min: 60 }))}</p></section>
    <div class="grid cols-eq">
      <section class="panel"><h2>${esc(t('health.workOrders'))}</h2><table><tbody id="orders" data-testid="work-orders"></tbody></table></section>
      <section class="panel"><h2>${esc(t('health.kpis'))}</h2>
        <table><thead><tr><th>${esc(t('col.equipment'))}</th><th class="num">${esc(t('health.failures'))}</th><th class="num">MTBF h</th><th class="num">MTTR h</th><th class="num">${esc(t('health.availability'))}</th></tr></thead>
        <tbody id="kpis" data-testid="maintenance-kpis"></tbody></table><p class="muted">${esc(t('health.kpiHelp'))}</p></section>
    </div>`;

  let rulModels = [];
  const rulOf = id => rulModels.flatMap(m => m.estimates).find(e => e.equipmentId === id);
  const rulCell = e => !e ? '<span class="muted">—</span>'
    : e.atCap ? esc(t('health.rulAtLeast', { h: e.hours.toFixed(0) }))
    : `<b>${e.hours.toFixed(1)} h</b><div class="muted">${esc(t('health.rulBand', { lo: e.lowerHours.toFixed(1), hi: e.upperHours.toFixed(1) }))}</div>`;

  async function loadRul() {
    rulModels = await api('api/rul');
    const types = [...new Set(list.filter(h => h.typeId).map(h => h.typeId))].sort();
    main.querySelector('#rul').innerHTML = types.map(type => {
      const m = rulModels.find(x => x.typeId === type);
      const what = m && m.recipe ? esc(t('health.rulTrainedOn', { runs: m.trainingRuns, cycles: m.trainingCycles, from: fmtTime(m.recipe.fromNs), to: fmtTime(m.recipe.toNs) }))
        + `<div class="muted">${esc(m.recipe.tags.join(', '))}</div>`
        : m && m.error ? `<span class="errors">${esc(m.error)}</span>` : `<span class="muted">${esc(t('health.rulNone'))}</span>`;
      return `<tr data-type="${esc(type)}"><td>${esc(type)}</td><td>${what}</td>
        <td><button data-rul="${esc(type)}" data-testid="rul-train-${esc(type)}">${esc(t('health.train'))}</button></td></tr>`;
    }).join('');
  }

  let list = [];
  async function loadHealth() {
    list = await api('api/health');
    await loadRul();
    main.querySelector('#health').innerHTML = list.map(h => {
      const hi = h.healthIndex;
      const bar = hi === null || hi === undefined ? `<span class="muted">—</span>`
        : `<span class="bar" style="width:${Math.round(hi)}px;background:${hi < 67 ? 'var(--down)' : hi < 85 ? 'var(--p-medium)' : 'var(--run)'}"></span> ${hi.toFixed(0)}`;
      const model = h.model ? `${esc(h.model.tags.join(', '))}<div class="muted">${esc(t('health.trainedOn', { rows: h.trainingRows, from: fmtTime(h.model.fromNs), to: fmtTime(h.model.toNs) }))}</div>`
        : h.modelError ? `<span class="errors">${esc(h.modelError)}</span>` : `<span class="muted">${esc(t('health.noModel'))}</span>`;
      const a = h.lastAnomaly;
      const anomaly = a ? `${a.endNs ? '' : `<span class="pill alarm">${esc(t('health.ongoing'))}</span> `}${esc(fmtAgo(a.startNs))}<div class="muted">${esc(a.contributors.map(c => `${c.tag} ${(c.share * 100).toFixed(0)}%`).join(', '))}</div>` : '';
      return `<tr data-eq="${esc(h.equipmentId)}"><td><a href="#/equipment/${encodeURIComponent(h.equipmentId)}">${esc(h.name)}</a><div class="muted">${esc(h.equipmentId)}</div></td>
        <td data-testid="hi-${esc(h.equipmentId)}">${bar}</td><td data-testid="rul-${esc(h.equipmentId)}">${rulCell(rulOf(h.equipmentId))}</td><td>${model}</td><td>${anomaly}</td>
        <td><button data-train="${esc(h.equipmentId)}" data-testid="train-${esc(h.equipmentId)}">${esc(t('health.train'))}</button></td></tr>`;
    }).join('');
  }

  async function loadOrders() {
    const orders = await api('api/workorders');
    main.querySelector('#orders').innerHTML = orders.map(o => `<tr data-wo="${esc(o.id)}"><td><span class="pill">${esc(t('wo.' + o.status))}</span></td>
      <td>${esc(o.title)}<div class="muted">${esc(o.equipmentId)} · ${esc(fmtTime(o.createdNs))}${o.assignee ? ' · ' + esc(o.assignee) : ''}</div></td>
      <td><div class="btns">${o.status === 'Open' ? `<button data-assign>${esc(t('wo.assign'))}</button>` : ''}${o.status !== 'Done' ? `<button data-done>${esc(t('wo.done'))}</button>` : ''}</div></td></tr>`).join('')
      || `<tr><td class="muted">${esc(t('wo.none'))}</td></tr>`;
  }

  async function loadKpis() {
    const k = await api('api/maintenance/kpis');
    const f = v => v === null || v === undefined ? '—' : v.toFixed(2);
    main.querySelector('#kpis').innerHTML = k.filter(x => x.runningHours + x.idleHours + x.downHours > 0).map(x => `<tr><td>${esc(x.equipmentId)}</td>
      <td class="num">${x.failures}</td><td class="num">${f(x.mtbfHours)}</td><td class="num">${f(x.mttrHours)}</td><td class="num">${x.availabilityPercent === null || x.availabilityPercent === undefined ? '—' : x.availabilityPercent.toFixed(1) + '%'}</td></tr>`).join('');
  }

  main.querySelector('#health').onclick = e => {
    const b = e.target.closest('button[data-train]');
    if (!b) return;
    b.disabled = true;
    guard(async () => {
      const period = main.querySelector('#period').value;
      const r = await api(`api/health/${encodeURIComponent(b.dataset.train)}/train`, { method: 'POST', body: { from: `now-${period}`, to: 'now' } });
      toast(t('health.trained', { id: b.dataset.train, rows: r.trainingRows }));
      await loadHealth();
    }).finally(() => { b.disabled = false; });
  };
  main.querySelector('#rul').onclick = e => {
    const b = e.target.closest('button[data-rul]');
    if (!b) return;
    b.disabled = true;
    guard(async () => {
      const period = main.querySelector('#rulPeriod').value;
      const r = await api(`api/rul/${encodeURIComponent(b.dataset.rul)}/train`, { method: 'POST', body: { from: `now-${period}`, to: 'now' } });
      toast(t('health.rulTrained', { id: b.dataset.rul, runs: r.trainingRuns }));
      await loadHealth();
    }).finally(() => { b.disabled = false; });
  };
  main.querySelector('#orders').onclick = e => {
    const tr = e.target.closest('tr[data-wo]');
    if (!tr) return;
    let body = null;
    if (e.target.closest('button[data-assign]')) {
      const who = prompt(t('wo.assignee'));
      if (!who) return;
      body = { status: 'Assigned', assignee: who };
    } else if (e.target.closest('button[data-done]')) body = { status: 'Done' };
    if (body) guard(async () => { await api(`api/workorders/${encodeURIComponent(tr.dataset.wo)}`, { method: 'PUT', body }); await loadOrders(); });
  };

  await Promise.all([loadHealth(), loadOrders(), loadKpis()]);
  const refresh = debounce(() => { loadHealth(); loadOrders(); }, 1000);
  track({ tag: ['health_index', 'rul_hours'] });
  const off = subscribe(name => { if (name === 'values') refresh(); });
  return { unmount() { off(); } };
}
