// Alarm console: active alarms with operator actions (acknowledge, shelve, comment, out of service), the journal,
// and the alarm-health KPIs of ISA-18.2 (rate per 10 min per console, floods, chattering, stale, priorities).
import { api } from '../api.js';
import { track, subscribe } from '../live.js';
import { t } from '../i18n.js';
import { esc, fmtTime, fmtAgo, fmtValue, guard, toast, debounce } from '../util.js';

/** One alarm as a table row with its action buttons (shared with the equipment page). */
export function alarmRow(a) {
  const shelved = a.shelving !== 'Unshelved';
  const actions = [
    !a.acknowledged ? `<button class="primary" data-act="ack" data-testid="ack-${esc(a.id)}">${esc(t('alarms.ack'))}</button>` : '',
    !shelved && !a.outOfService ? `<button data-act="shelve" data-testid="shelve-${esc(a.id)}">${esc(t('alarms.shelve'))}</button>` : '',
    shelved ? `<button data-act="unshelve" data-testid="unshelve-${esc(a.id)}">${esc(t('alarms.unshelve'))}</button>` : '',
    `<button data-act="comment">${esc(t('alarms.comment'))}</button>`,
    a.outOfService ? `<button data-act="return-to-service">${esc(t('alarms.returnToService'))}</button>`
      : `<button data-act="out-of-service" class="danger">${esc(t('alarms.outOfService'))}</button>`,
  ].join('');
  const last = a.comments?.length ? `<div class="muted">💬 ${esc(a.comments[a.comments.length - 1].user)}: ${esc(a.comments[a.comments.length - 1].text)}</div>` : '';
  const shelf = shelved ? `<div class="muted">${esc(t('alarms.shelvedBy', { user: a.shelvedBy ?? '', reason: a.shelveReason ?? '' }))}${a.shelvedUntilNs ? ' · ' + esc(fmtTime(a.shelvedUntilNs)) : ''}</div>` : '';
  return `<tr class="${a.acknowledged ? '' : 'unacked'}" data-alarm="${esc(a.id)}" data-testid="alarm-row" data-state="${esc(a.state)}">
    <td><span class="prio ${esc(a.priority)}">${esc(t('priority.' + a.priority))}</span></td>
    <td>${esc(fmtTime(a.activeSinceNs ?? a.lastChangeNs))}<div class="muted">${esc(fmtAgo(a.activeSinceNs ?? a.lastChangeNs))}</div></td>
    <td><a href="#/equipment/${encodeURIComponent(a.equipmentId)}">${esc(a.equipmentId)}</a></td>
    <td>${esc(a.message)}${shelf}${last}</td>
    <td class="state-${esc(a.state)}" data-testid="alarm-state">${esc(t('alarmState.' + a.state))}${a.escalationLevel ? ` <span class="pill alarm">⇧${a.escalationLevel}</span>` : ''}</td>
    <td class="num">${esc(fmtValue(a.lastValue))}</td>
    <td><div class="btns">${actions}</div></td></tr>`;
}

/** Handles the action buttons inside container; reload() is called after each action. */
export function bindAlarmActions(container, reload) {
  container.addEventListener('click', async e => {
    const b = e.target.closest('button[data-act]');
    if (!b) return;
    const id = b.closest('tr').dataset.alarm;
    const act = b.dataset.act;
    const path = `api/alarms/${encodeURIComponent(id)}/${act}`;
    let body = { user: currentUser() };
    if (act === 'shelve') {
      const r = await askShelve();
      if (!r) return;
      body = { user: currentUser(), reason: r.reason, minutes: r.minutes };
    } else if (act === 'comment' || act === 'out-of-service') {
      const text = prompt(t(act === 'comment' ? 'alarms.commentPrompt' : 'alarms.oosPrompt'));
      if (!text) return;
      body.comment = text;
    }
    b.disabled = true;
    await guard(async () => {
      await api(path, { method: 'POST', body });
      toast(t('alarms.done.' + act, { id }));
    });
    await reload();
  });
}

function currentUser() {
  return localStorage.getItem('zhizao.user') || 'operator';
}

function askShelve() {
  return new Promise(resolve => {
    const d = document.createElement('dialog');
    d.dataset.testid = 'shelve-dialog';
    d.innerHTML = `<form method="dialog">
      <h3>${esc(t('alarms.shelveTitle'))}</h3>
      <label class="f">${esc(t('alarms.reason'))}<input name="reason" required data-testid="shelve-reason"></label>
      <label class="f">${esc(t('alarms.minutes'))}<input name="minutes" type="number" min="1" max="1440" placeholder="${esc(t('alarms.oneShot'))}" data-testid="shelve-minutes"></label>
      <menu><button value="cancel" formnovalidate>${esc(t('common.cancel'))}</button><button value="ok" class="primary" data-testid="shelve-ok">${esc(t('alarms.shelve'))}</button></menu></form>`;
    document.body.appendChild(d);
    d.addEventListener('close', () => {
      const f = d.querySelector('form');
      const ok = d.returnValue === 'ok';
      const minutes = f.minutes.value ? Number(f.minutes.value) : undefined;
      resolve(ok ? { reason: f.reason.value, minutes } : null);
      d.remove();
    });
    d.showModal();
  });
}

export async function mount(main, [tab = 'active']) {
  main.innerHTML = `
    <h1 data-testid="page-title">${esc(t('alarms.title'))}</h1>
    <div class="tabs">${['active', 'journal', 'kpis'].map(k => `<a href="#/alarms/${k}" class="${k === tab ? 'on' : ''}" data-testid="tab-${k}">${esc(t('alarms.tab.' + k))}</a>`).join('')}</div>
    <section class="panel" id="body"></section>`;
  const body = main.querySelector('#body');
  if (tab === 'journal') { await journal(body); track({}); return {}; }
  if (tab === 'kpis') { await kpis(body); track({}); return {}; }

  body.innerHTML = `<div class="btns" style="margin-bottom:8px">
      <label><input type="checkbox" id="unacked-only"> ${esc(t('alarms.unackedOnly'))}</label>
      <select id="prio-filter"><option value="">${esc(t('alarms.allPriorities'))}</option>${['Urgent', 'High', 'Medium', 'Low'].map(p => `<option value="${p}">${esc(t('priority.' + p))}</option>`).join('')}</select>
      <button id="ack-all">${esc(t('alarms.ackVisible'))}</button>
      <span class="muted" id="count"></span></div>
    <table><thead><tr><th>${esc(t('col.priority'))}</th><th>${esc(t('col.time'))}</th><th>${esc(t('col.equipment'))}</th><th>${esc(t('col.message'))}</th><th>${esc(t('col.state'))}</th><th class="num">${esc(t('col.value'))}</th><th></th></tr></thead>
    <tbody id="rows" data-testid="alarm-table"></tbody></table>`;
  let list = [];
  const rows = body.querySelector('#rows');
  const visible = () => list.filter(a => (!body.querySelector('#unacked-only').checked || !a.acknowledged)
    && (!body.querySelector('#prio-filter').value || a.priority === body.querySelector('#prio-filter').value));
  function render() {
    const v = visible();
    rows.innerHTML = v.length ? v.map(alarmRow).join('') : `<tr><td colspan="7" class="muted" data-testid="no-alarms">${esc(t('alarms.none'))}</td></tr>`;
    body.querySelector('#count').textContent = t('alarms.count', { n: v.length, total: list.length });
  }
  async function load() { list = await api('api/alarms'); render(); }
  body.querySelector('#unacked-only').onchange = render;
  body.querySelector('#prio-filter').onchange = render;
  body.querySelector('#ack-all').onclick = async () => {
    for (const a of visible().filter(x => !x.acknowledged)) {
      await guard(() => api(`api/alarms/${encodeURIComponent(a.id)}/ack`, { method: 'POST', body: { user: currentUser() } }));
    }
    await load();
  };
  bindAlarmActions(rows, load);
  await load();

  const reload = debounce(load, 150);
  track({});
  const off = subscribe((name, data) => {
    if (name === 'resync' || name === 'state') { if (name !== 'state' || data) reload(); return; }
    if (name !== 'alarms') return;
    for (const a of data) {
      const i = list.findIndex(x => x.id === (a.id));
      const keep = !a.retired && (a.active || !a.acknowledged);
      if (i >= 0) { if (keep) list[i] = a; else list.splice(i, 1); } else if (keep) list.unshift(a);
    }
    const order = { Urgent: 0, High: 1, Medium: 2, Low: 3 };
    list.sort((a, b) => order[a.priority] - order[b.priority] || b.lastChangeNs - a.lastChangeNs);
    render();
  });
  return { unmount() { off(); } };
}

async function journal(body) {
  const entries = (await api('api/alarms/journal?limit=500')).reverse();
  body.innerHTML = `<div class="scroll"><table data-testid="journal"><thead><tr><th>#</th><th>${esc(t('col.time'))}</th><th>${esc(t('col.alarm'))}</th><th>${esc(t('col.event'))}</th><th>${esc(t('col.user'))}</th><th>${esc(t('col.comment'))}</th><th class="num">${esc(t('col.value'))}</th></tr></thead>
    <tbody>${entries.map(e => `<tr><td class="muted">${e.sequence}</td><td>${esc(fmtTime(e.timestampNs))}</td><td>${esc(e.alarmId)}</td>
      <td>${esc(t('event.' + e.event))}</td><td>${esc(e.user ?? '')}</td><td>${esc(e.comment ?? '')}</td><td class="num">${esc(fmtValue(e.value))}</td></tr>`).join('')
      || `<tr><td colspan="7" class="muted">${esc(t('alarms.journalEmpty'))}</td></tr>`}</tbody></table></div>`;
}

async function kpis(body) {
  const k = await api('api/alarms/kpis');
  const maxRate = Math.max(1, ...k.consoles.map(c => c.maxPerWindow));
  body.innerHTML = `
    <div class="kpis" data-testid="alarm-kpis">
      <div class="kpi"><div class="v">${k.activations}</div><div class="l">${esc(t('kpis.activations'))}</div></div>
      <div class="kpi${k.floods.length ? ' alert' : ''}"><div class="v" data-testid="kpi-floods">${k.floods.length}</div><div class="l">${esc(t('kpis.floods'))}</div></div>
      <div class="kpi${k.chattering.length ? ' alert' : ''}"><div class="v">${k.chattering.length}</div><div class="l">${esc(t('kpis.chattering'))}</div></div>
      <div class="kpi${k.stale.length ? ' alert' : ''}"><div class="v">${k.stale.length}</div><div class="l">${esc(t('kpis.stale'))}</div></div>
    </div>
    <h2>${esc(t('kpis.perConsole'))}</h2>
    <table><thead><tr><th>${esc(t('kpis.console'))}</th><th class="num">${esc(t('kpis.activations'))}</th><th class="num">${esc(t('kpis.avgPer10'))}</th><th class="num">${esc(t('kpis.maxPer10'))}</th><th class="num">${esc(t('kpis.timeInFlood'))}</th><th>${esc(t('kpis.rate'))}</th></tr></thead>
    <tbody>${k.consoles.map(c => `<tr><td>${esc(c.console)}</td><td class="num">${c.activations}</td><td class="num">${c.averagePerWindow.toFixed(2)}</td><td class="num">${c.maxPerWindow}</td><td class="num">${c.percentTimeInFlood.toFixed(1)}%</td>
      <td><span class="bar" style="width:${Math.round(100 * c.maxPerWindow / maxRate)}px"></span></td></tr>`).join('') || `<tr><td colspan="6" class="muted">${esc(t('kpis.none'))}</td></tr>`}</tbody></table>
    <p class="muted">${esc(t('kpis.targets', { a: k.targets.acceptablePerWindow, m: k.targets.manageablePerWindow }))}</p>
    <div class="grid cols-eq">
      <div><h2>${esc(t('kpis.priorities'))}</h2><table><thead><tr><th>${esc(t('col.priority'))}</th><th class="num">${esc(t('kpis.activations'))}</th><th class="num">%</th><th class="num">${esc(t('kpis.target'))}</th></tr></thead>
        <tbody>${k.priorities.map(p => `<tr><td><span class="prio ${p.priority}">${esc(t('priority.' + p.priority))}</span></td><td class="num">${p.activations}</td><td class="num">${p.percent.toFixed(1)}</td><td class="num">${p.targetPercent.toFixed(0)}</td></tr>`).join('')}</tbody></table></div>
      <div><h2>${esc(t('kpis.frequent'))}</h2><table><tbody>${k.mostFrequent.map(f => `<tr><td>${esc(f.alarmId)}</td><td class="num">${f.activations}</td><td class="num">${f.percentOfAll.toFixed(1)}%</td></tr>`).join('') || `<tr><td class="muted">${esc(t('kpis.none'))}</td></tr>`}</tbody></table>
        <h2>${esc(t('kpis.chatteringList'))}</h2><table><tbody>${k.chattering.map(c => `<tr><td>${esc(c.alarmId)}</td><td class="num">${c.maxInChatterWindow}/min</td></tr>`).join('') || `<tr><td class="muted">${esc(t('kpis.none'))}</td></tr>`}</tbody></table>
        <h2>${esc(t('kpis.staleList'))}</h2><table><tbody>${k.stale.map(s => `<tr><td>${esc(s.alarmId)}</td><td>${esc(fmtAgo(s.activeSinceNs))}</td></tr>`).join('') || `<tr><td class="muted">${esc(t('kpis.none'))}</td></tr>`}</tbody></table></div>
    </div>`;
}
