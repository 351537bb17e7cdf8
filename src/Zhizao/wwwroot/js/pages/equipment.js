// Equipment page: live tag values, a trend with time range and zoom, the state timeline, the equipment's alarms.
import { api } from '../api.js';
import { track, subscribe } from '../live.js';
import { t } from '../i18n.js';
import { esc, fmtTime, fmtValue, stateName, RANGES, guard, debounce } from '../util.js';
import { Trend, loadAggregates, drawTimeline } from '../chart.js';
import { alarmRow, bindAlarmActions } from './alarms.js';

export async function mount(main, [id]) {
  const [asset, tags] = await Promise.all([api(`api/assets/${encodeURIComponent(id)}`), api(`api/assets/${encodeURIComponent(id)}/tags`)])
    .catch(e => { throw e.status === 404 ? new Error(t('equipment.notFound', { id })) : e; });
  const numeric = tags.filter(x => x.tag.dataType !== 'String');
  const byKey = new Map(tags.map(x => [x.series, x]));
  const stateTag = tags.find(x => x.tag.name === 'state');
  // default trend: the first analog tags, not the state or ever-growing counters
  const counter = /(energy|count|total|hours)/i;
  let selected = numeric.filter(x => x.tag.name !== 'state' && !counter.test(x.tag.name)).slice(0, 3).map(x => x.series);
  let range = RANGES[0];
  let view = null; // zoomed [fromNs, toNs] or null for the range ending now

  main.innerHTML = `
    <h1 data-testid="page-title">${esc(asset.name)} <span class="muted">${esc(asset.id)} · ${esc(asset.typeId ?? '')}</span>
      <span class="pill" id="state-pill" data-testid="state-pill"></span></h1>
    <div class="grid cols-eq">
      <section class="panel">
        <h2>${esc(t('equipment.live'))}</h2>
        <table data-testid="live-table"><thead><tr><th></th><th>${esc(t('col.tag'))}</th><th class="num">${esc(t('col.value'))}</th><th>${esc(t('col.time'))}</th></tr></thead>
        <tbody>${tags.map(x => `<tr title="${esc(x.tag.description ?? '')}">
          <td>${x.tag.dataType !== 'String' ? `<input type="checkbox" data-pick="${esc(x.series)}" ${selected.includes(x.series) ? 'checked' : ''}>` : ''}</td>
          <td>${esc(x.tag.name)}</td>
          <td class="num" data-testid="value-${esc(x.tag.name)}" data-value="${esc(x.series)}">${esc(fmtValue(x.latest?.value, x.tag.unit))}</td>
          <td class="muted" data-time="${esc(x.series)}">${esc(fmtTime(x.latest?.timestampNs, false))}</td></tr>`).join('')}</tbody></table>
      </section>
      <section>
        <div class="panel">
          <div class="btns" style="justify-content:space-between">
            <h2>${esc(t('equipment.trend'))}</h2>
            <span class="btns"><span class="seg" id="ranges">${RANGES.map(r => `<button data-range="${r.key}">${esc(t('range.' + r.key))}</button>`).join('')}</span>
            <button id="reset" data-i18n-title="chart.resetHelp">${esc(t('chart.reset'))}</button></span>
          </div>
          <div class="chart" id="chart" data-testid="trend"></div>
          ${stateTag ? `<div class="timeline" id="timeline" data-testid="timeline"></div>
          <div class="legend-row"><span><span class="dot s2"></span> ${esc(t('state.running'))}</span><span><span class="dot s1"></span> ${esc(t('state.idle'))}</span><span><span class="dot s0"></span> ${esc(t('state.down'))}</span><span class="muted">${esc(t('chart.zoomHelp'))}</span></div>` : ''}
        </div>
        <div class="panel">
          <h2>${esc(t('equipment.alarms'))}</h2>
          <table><tbody id="eq-alarms"></tbody></table>
        </div>
      </section>
    </div>`;

  const chart = new Trend(main.querySelector('#chart'), {
    onZoom: (f, to) => { view = [f, to]; redraw(); },
    onReset: () => { view = null; redraw(); },
  });

  async function redraw() {
    const to = view ? view[1] : Date.now() * 1e6;
    const from = view ? view[0] : to - range.s * 1e9;
    for (const b of main.querySelectorAll('#ranges button')) b.classList.toggle('on', !view && b.dataset.range === range.key);
    await guard(async () => {
      const started = performance.now();
      const [data, states] = await Promise.all([
        selected.length ? loadAggregates(selected, from, to) : Promise.resolve({ x: [], columns: [], bucket: 1 }),
        stateTag ? loadAggregates([stateTag.series], from, to, 600) : Promise.resolve(null),
      ]);
      chart.draw(selected.map(k => { const x = byKey.get(k); return x.tag.unit ? `${x.tag.name} (${x.tag.unit})` : x.tag.name; }), data,
        selected.map(k => byKey.get(k).tag.unit ?? ''));
      if (states) drawTimeline(main.querySelector('#timeline'), states);
      main.querySelector('#chart').dataset.loadMs = String(Math.round(performance.now() - started));
    });
  }

  main.querySelector('#ranges').onclick = e => {
    const b = e.target.closest('button');
    if (!b) return;
    range = RANGES.find(r => r.key === b.dataset.range);
    view = null;
    redraw();
  };
  main.querySelector('#reset').onclick = () => { view = null; redraw(); };
  main.querySelector('[data-testid=live-table]').onchange = e => {
    const key = e.target.dataset.pick;
    if (!key) return;
    selected = e.target.checked ? [...selected, key].slice(-8) : selected.filter(k => k !== key);
    redraw();
  };

  async function loadAlarms() {
    const list = (await api('api/alarms')).filter(a => a.equipmentId === id);
    main.querySelector('#eq-alarms').innerHTML = list.length ? list.map(alarmRow).join('') : `<tr><td class="muted">${esc(t('alarms.none'))}</td></tr>`;
  }
  bindAlarmActions(main.querySelector('#eq-alarms'), loadAlarms);

  function paintState(v) {
    const pill = main.querySelector('#state-pill');
    pill.textContent = stateName(v);
    pill.className = 'pill' + (v === 0 ? ' alarm' : '');
  }
  if (stateTag) paintState(stateTag.latest?.value); else main.querySelector('#state-pill').remove();

  const refreshAlarms = debounce(loadAlarms, 200);
  let lastFollow = Date.now();
  const follow = () => { // keep a short trend moving with the data, at most every 10 s
    if (!view && range.s <= 8 * 3600 && Date.now() - lastFollow > 10000) { lastFollow = Date.now(); redraw(); }
  };
  track({ equipment: [id] });
  const off = subscribe((name, data) => {
    if (name === 'values') {
      for (const v of data) {
        const x = byKey.get(v.series);
        if (!x) continue;
        const cell = main.querySelector(`[data-value="${CSS.escape(v.series)}"]`);
        if (cell) cell.textContent = fmtValue(v.v, x.tag.unit);
        const time = main.querySelector(`[data-time="${CSS.escape(v.series)}"]`);
        if (time) time.textContent = fmtTime(v.t, false);
        if (x === stateTag) paintState(v.v);
      }
      follow();
    } else if ((name === 'alarms' && data.some(a => a.equipmentId === id || a.retired)) || name === 'resync') {
      refreshAlarms();
    }
  });

  await Promise.all([redraw(), loadAlarms()]);
  return { unmount() { off(); chart.destroy(); } };
}
