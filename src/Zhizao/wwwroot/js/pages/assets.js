// Asset editor: the ISA-95 tree (enterprise → site → area → line → cell → equipment), one asset's form, equipment
// types with their tags, and whole-model export/import (YAML or JSON, all-or-nothing).
import { api, download, upload } from '../api.js';
import { track } from '../live.js';
import { t } from '../i18n.js';
import { esc, guard, toast } from '../util.js';

const LEVELS = ['Enterprise', 'Site', 'Area', 'Line', 'Cell', 'Equipment'];

export async function mount(main) {
  track({});
  let assets = await api('api/assets');
  const types = await api('api/types');
  let selectedId = null;
  main.innerHTML = `
    <h1 data-testid="page-title">${esc(t('assets.title'))}</h1>
    <div class="btns" style="margin-bottom:10px">
      <button id="add-root">${esc(t('assets.addRoot'))}</button>
      <button id="export" data-testid="model-export">${esc(t('assets.export'))}</button>
      <label class="button">${esc(t('assets.import'))}<input id="import" type="file" accept=".yaml,.yml,.json" hidden></label>
    </div>
    <div class="grid cols-eq">
      <section class="panel tree" id="tree" data-testid="asset-editor-tree"></section>
      <section><div class="panel" id="form"><p class="muted">${esc(t('assets.pick'))}</p></div>
        <div class="panel" id="type"></div></section>
    </div>`;

  function renderTree() {
    const kids = p => assets.filter(a => (a.parentId ?? null) === p).sort((a, b) => a.id.localeCompare(b.id));
    const node = a => `<li><span class="node${a.id === selectedId ? ' sel' : ''}" data-id="${esc(a.id)}">${esc(a.name)} <span class="lvl">${esc(t('level.' + a.level))} · ${esc(a.id)}</span></span>
      ${kids(a.id).length ? `<ul>${kids(a.id).map(node).join('')}</ul>` : ''}</li>`;
    const roots = assets.filter(a => !a.parentId || !assets.some(p => p.id === a.parentId));
    const tree = main.querySelector('#tree');
    tree.innerHTML = roots.length ? `<ul>${roots.map(node).join('')}</ul>` : `<p class="muted">${esc(t('overview.noAssets'))}</p>`;
  }
  main.querySelector('#tree').onclick = e => {
    const n = e.target.closest('.node');
    if (n) { selectedId = n.dataset.id; renderTree(); form(assets.find(a => a.id === selectedId), false); }
  };

  function form(a, isNew) {
    const levelOptions = LEVELS.map(l => `<option value="${l}" ${l === a.level ? 'selected' : ''}>${esc(t('level.' + l))}</option>`).join('');
    const box = main.querySelector('#form');
    box.innerHTML = `<h2>${esc(isNew ? t('assets.new') : a.name)}</h2>
      <form id="af" data-testid="asset-form" autocomplete="off">
        <label class="f">${esc(t('assets.id'))}<input name="id" value="${esc(a.id)}" ${isNew ? '' : 'readonly'} required></label>
        <label class="f">${esc(t('rules.name'))}<input name="name" value="${esc(a.name)}" required></label>
        <label class="f">${esc(t('assets.level'))}<select name="level">${levelOptions}</select></label>
        <label class="f">${esc(t('assets.parent'))}<input name="parentId" value="${esc(a.parentId ?? '')}" list="asset-ids"></label>
        <label class="f">${esc(t('col.type'))}<select name="typeId"><option value=""></option>${types.map(x => `<option value="${esc(x.id)}" ${x.id === a.typeId ? 'selected' : ''}>${esc(x.name)} (${esc(x.id)})</option>`).join('')}</select></label>
        <label class="f">${esc(t('assets.description'))}<input name="description" value="${esc(a.description ?? '')}"></label>
        <datalist id="asset-ids">${assets.map(x => `<option value="${esc(x.id)}">`).join('')}</datalist>
        <div class="btns"><button class="primary" type="submit" data-testid="asset-save">${esc(t('common.save'))}</button>
          ${isNew ? '' : `<button type="button" id="child">${esc(t('assets.addChild'))}</button><button type="button" class="danger" id="del">${esc(t('common.delete'))}</button>
          ${a.level === 'Equipment' ? `<a class="button" href="#/equipment/${encodeURIComponent(a.id)}">${esc(t('assets.open'))}</a>` : ''}`}</div>
      </form>`;
    const f = box.querySelector('#af');
    f.onsubmit = e => {
      e.preventDefault();
      guard(async () => {
        const body = { id: f.id.value.trim(), name: f.name.value.trim(), level: f.level.value, parentId: f.parentId.value || null, typeId: f.typeId.value || null, description: f.description.value || null };
        const saved = isNew ? await api('api/assets', { method: 'POST', body }) : await api(`api/assets/${encodeURIComponent(body.id)}`, { method: 'PUT', body });
        assets = await api('api/assets');
        selectedId = saved.id;
        renderTree();
        form(saved, false);
        toast(t('assets.saved', { id: saved.id }));
      });
    };
    box.querySelector('#child')?.addEventListener('click', () => {
      const next = LEVELS[Math.min(LEVELS.indexOf(a.level) + 1, LEVELS.length - 1)];
      form({ id: '', name: '', level: next, parentId: a.id }, true);
    });
    box.querySelector('#del')?.addEventListener('click', () => guard(async () => {
      const hasKids = assets.some(x => x.parentId === a.id);
      if (!confirm(t(hasKids ? 'assets.confirmDeleteTree' : 'assets.confirmDelete', { id: a.id }))) return;
      await api(`api/assets/${encodeURIComponent(a.id)}${hasKids ? '?recursive=true' : ''}`, { method: 'DELETE' });
      assets = await api('api/assets');
      selectedId = null;
      renderTree();
      box.innerHTML = `<p class="muted">${esc(t('assets.deleted', { id: a.id }))}</p>`;
    }));
    showType(a.typeId);
  }

  function showType(typeId) {
    const ty = types.find(x => x.id === typeId);
    main.querySelector('#type').innerHTML = ty ? `<h2>${esc(t('assets.typeTags', { name: ty.name }))}</h2>
      <table><thead><tr><th>${esc(t('col.tag'))}</th><th>${esc(t('assets.dataType'))}</th><th>${esc(t('assets.unit'))}</th><th>${esc(t('assets.range'))}</th><th>${esc(t('assets.description'))}</th></tr></thead>
      <tbody>${ty.tags.map(x => `<tr><td>${esc(x.name)}</td><td>${esc(x.dataType)}</td><td>${esc(x.unit ?? '')}</td><td>${x.rangeLow ?? ''} … ${x.rangeHigh ?? ''}</td><td class="muted">${esc(x.description ?? '')}</td></tr>`).join('')}</tbody></table>` : '';
  }

  main.querySelector('#add-root').onclick = () => form({ id: '', name: '', level: 'Enterprise' }, true);
  main.querySelector('#export').onclick = () => guard(() => download('api/model/export?format=yaml', 'zhizao-model.yaml'));
  main.querySelector('#import').onchange = e => guard(async () => {
    const file = e.target.files[0];
    if (!file) return;
    const text = await file.text();
    const result = await upload('api/model/import', text, file.name.endsWith('.json') ? 'application/json' : 'application/yaml');
    assets = await api('api/assets');
    renderTree();
    toast(t('assets.imported', { summary: JSON.stringify(result) }));
    e.target.value = '';
  });
  renderTree();
  return {};
}
