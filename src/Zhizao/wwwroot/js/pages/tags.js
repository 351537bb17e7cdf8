// Tag explorer: search every series, trend several together, export them as CSV.
import { api, download } from '../api.js';
import { track } from '../live.js';
import { t } from '../i18n.js';
import { esc, RANGES, guard, toast, bucketFor } from '../util.js';
import { Trend, loadAggregates, PALETTE } from '../chart.js';

const MAX_SELECTED = 8;

export async function mount(main, [preset]) {
  const all = await api('api/series');
  let selected = preset ? decodeURIComponent(preset).split(',').filter(k => all.some(s => s.key === k)) : [];
  let range = RANGES[0];
  let view = null;
  main.innerHTML = `
    <h1 data-testid="page-title">${esc(t('tags.title'))}</h1>
    <div class="grid cols-2">
      <section class="panel">
        <input class="search" id="q" type="search" data-i18n-placeholder="tags.search" placeholder="${esc(t('tags.search'))}" data-testid="tag-search">
        <div class="muted" id="found"></div>
        <div class="scroll"><table><tbody id="list" data-testid="tag-list"></tbody></table></div>
      </section>
      <section class="panel">
        <div class="btns" style="justify-content:space-between">
          <div id="chosen" class="btns"></div>
          <span class="btns"><span class="seg" id="ranges">${RANGES.map(r => `<button data-range="${r.key}">${esc(t('range.' + r.key))}</button>`).join('')}</span>
          <button id="csv" data-testid="export-csv">${esc(t('tags.exportCsv'))}</button></span>
        </div>
        <div class="chart" id="chart" data-testid="trend"></div>
        <p class="muted">${esc(t('chart.zoomHelp'))}</p>
      </section>
    </div>`;
  const list = main.querySelector('#list');
  const chart = new Trend(main.querySelector('#chart'), { onZoom: (f, to) => { view = [f, to]; redraw(); }, onReset: () => { view = null; redraw(); } });

  function renderList() {
    const words = main.querySelector('#q').value.toLowerCase().split(/\s+/).filter(Boolean);
    const hits = all.filter(s => words.every(w => s.key.toLowerCase().includes(w)));
    main.querySelector('#found').textContent = t('tags.found', { n: hits.length, total: all.length });
    list.innerHTML = hits.slice(0, 500).map(s => `<tr><td><label><input type="checkbox" data-key="${esc(s.key)}" ${selected.includes(s.key) ? 'checked' : ''} ${s.kind === 'String' ? 'disabled' : ''}>
      ${esc(s.key)}</label></td><td class="muted">${esc(s.kind)}</td></tr>`).join('');
  }

  function renderChosen() {
    main.querySelector('#chosen').innerHTML = selected.map((k, i) => `<span class="pill" style="border-left:4px solid ${PALETTE[i % PALETTE.length]}">${esc(k)}</span>`).join('')
      || `<span class="muted">${esc(t('tags.pick'))}</span>`;
    main.querySelector('#csv').disabled = selected.length === 0;
  }

  function span() {
    const to = view ? view[1] : Date.now() * 1e6;
    return [view ? view[0] : to - range.s * 1e9, to];
  }

  async function redraw() {
    renderChosen();
    for (const b of main.querySelectorAll('#ranges button')) b.classList.toggle('on', !view && b.dataset.range === range.key);
    const [from, to] = span();
    // series without a known unit each get their own scale
    await guard(async () => chart.draw(selected, selected.length ? await loadAggregates(selected, from, to) : { x: [], columns: [], bucket: 1 }, selected.map(() => '')));
  }

  main.querySelector('#q').oninput = renderList;
  list.onchange = e => {
    const k = e.target.dataset.key;
    if (!k) return;
    if (e.target.checked) {
      if (selected.length >= MAX_SELECTED) { e.target.checked = false; toast(t('tags.tooMany', { n: MAX_SELECTED }), true); return; }
      selected.push(k);
    } else selected = selected.filter(x => x !== k);
    history.replaceState(null, '', `#/tags/${encodeURIComponent(selected.join(','))}`);
    redraw();
  };
  main.querySelector('#ranges').onclick = e => {
    const b = e.target.closest('button');
    if (b) { range = RANGES.find(r => r.key === b.dataset.range); view = null; redraw(); }
  };
  main.querySelector('#csv').onclick = () => guard(async () => {
    const [from, to] = span();
    const q = new URLSearchParams();
    for (const k of selected) q.append('series', k);
    q.set('from', String(Math.floor(from)));
    q.set('to', String(Math.ceil(to)));
    if ((to - from) / 1e9 > 86400) q.set('bucket', `${bucketFor((to - from) / 1e9, 20000)}s`); // long ranges: averages
    await download(`api/export/csv?${q}`, 'zhizao-export.csv');
  });

  renderList();
  await redraw();
  track({});
  return { unmount() { chart.destroy(); } };
}
