// Rule editor: rules attach to equipment types. The form is checked by the server (api/rules/validate: types and
// expressions are parsed and type-checked) before it is saved; errors name the field and the position.
import { api } from '../api.js';
import { track } from '../live.js';
import { t } from '../i18n.js';
import { esc, guard, toast } from '../util.js';

const KINDS = ['Limit', 'RateOfChange', 'StateDuration', 'Expression'];
const PRIORITIES = ['Urgent', 'High', 'Medium', 'Low'];

export async function mount(main, [editId]) {
  track({});
  const [rules, types, problems] = await Promise.all([api('api/rules'), api('api/types'), api('api/rules/problems')]);
  main.innerHTML = `
    <h1 data-testid="page-title">${esc(t('rules.title'))}</h1>
    ${problems.length ? `<div class="panel"><h2>${esc(t('rules.problems'))}</h2><ul class="errors">${problems.map(p => `<li>${esc(p.ruleId)}: ${esc(p.errors.map(e => e.message).join('; '))}</li>`).join('')}</ul></div>` : ''}
    <div class="grid cols-eq">
      <section class="panel">
        <div class="btns" style="justify-content:space-between"><h2>${esc(t('rules.list'))}</h2><button class="primary" id="new" data-testid="new-rule">${esc(t('rules.new'))}</button></div>
        <input class="search" id="q" type="search" placeholder="${esc(t('rules.filter'))}">
        <div class="scroll"><table><thead><tr><th>${esc(t('col.rule'))}</th><th>${esc(t('col.type'))}</th><th>${esc(t('col.priority'))}</th></tr></thead><tbody id="list" data-testid="rule-list"></tbody></table></div>
      </section>
      <section class="panel" id="editor"></section>
    </div>`;

  const list = main.querySelector('#list');
  function renderList() {
    const q = main.querySelector('#q').value.toLowerCase();
    list.innerHTML = rules.filter(r => !q || (r.id + r.name + r.equipmentTypeId).toLowerCase().includes(q)).map(r => `
      <tr class="clickable" data-id="${esc(r.id)}"><td>${esc(r.name)}<div class="muted">${esc(r.id)} · ${esc(t('ruleKind.' + r.kind))}${r.enabled === false ? ' · ' + esc(t('rules.disabled')) : ''}</div></td>
      <td>${esc(r.equipmentTypeId)}</td><td><span class="prio ${r.priority}">${esc(t('priority.' + r.priority))}</span></td></tr>`).join('');
  }
  main.querySelector('#q').oninput = renderList;
  list.onclick = e => { const tr = e.target.closest('tr[data-id]'); if (tr) edit(rules.find(r => r.id === tr.dataset.id)); };
  main.querySelector('#new').onclick = () => edit(null);
  renderList();

  function edit(rule) {
    const isNew = !rule;
    const r = rule ?? { id: '', name: '', equipmentTypeId: types[0]?.id ?? '', kind: 'Limit', priority: 'Medium', enabled: true, onDelaySeconds: 0, offDelaySeconds: 0 };
    const ed = main.querySelector('#editor');
    const opt = (values, current, prefix) => values.map(v => `<option value="${esc(v)}" ${v === current ? 'selected' : ''}>${esc(prefix ? t(prefix + v) : v)}</option>`).join('');
    ed.innerHTML = `<h2>${esc(isNew ? t('rules.new') : t('rules.edit', { id: r.id }))}</h2>
      <form id="f" data-testid="rule-form" autocomplete="off">
        <label class="f">${esc(t('rules.id'))}<input name="id" value="${esc(r.id)}" ${isNew ? '' : 'readonly'} required pattern="[A-Za-z0-9._\\-]{1,128}"></label>
        <label class="f">${esc(t('rules.name'))}<input name="name" value="${esc(r.name)}" required></label>
        <label class="f">${esc(t('col.type'))}<select name="equipmentTypeId">${opt(types.map(x => x.id), r.equipmentTypeId)}</select></label>
        <label class="f">${esc(t('rules.kind'))}<select name="kind">${opt(KINDS, r.kind, 'ruleKind.')}</select></label>
        <label class="f">${esc(t('col.priority'))}<select name="priority">${opt(PRIORITIES, r.priority, 'priority.')}</select></label>
        <label class="f">${esc(t('rules.message'))}<input name="message" value="${esc(r.message ?? '')}" placeholder="{equipment}: {tag} {value}"></label>
        <label class="f">${esc(t('rules.onDelay'))}<input name="onDelaySeconds" type="number" min="0" step="any" value="${r.onDelaySeconds ?? 0}"></label>
        <label class="f">${esc(t('rules.offDelay'))}<input name="offDelaySeconds" type="number" min="0" step="any" value="${r.offDelaySeconds ?? 0}"></label>
        <label class="f">${esc(t('rules.enabled'))}<input name="enabled" type="checkbox" ${r.enabled !== false ? 'checked' : ''}></label>
        <fieldset id="params"></fieldset>
        <ul class="errors" id="errors" data-testid="rule-errors"></ul>
        <div class="btns"><button type="button" id="validate" data-testid="rule-validate">${esc(t('rules.validate'))}</button>
          <button type="submit" class="primary" data-testid="rule-save">${esc(t('common.save'))}</button>
          ${isNew ? '' : `<button type="button" class="danger" id="delete">${esc(t('common.delete'))}</button>`}
          <span id="status" data-testid="rule-status"></span></div>
      </form>`;
    const f = ed.querySelector('#f');
    const tagsOf = () => (types.find(x => x.id === f.equipmentTypeId.value)?.tags ?? []).map(x => x.name);
    function renderParams() {
      const kind = f.kind.value, tags = tagsOf(), p = r[{ Limit: 'limit', RateOfChange: 'rateOfChange', StateDuration: 'stateDuration' }[kind]] ?? {};
      const tagSel = `<label class="f">${esc(t('col.tag'))}<select name="tag">${opt(tags, p.tag)}</select></label>`;
      const num = (name, label, v, step = 'any') => `<label class="f">${esc(t(label))}<input name="${name}" type="number" step="${step}" value="${v ?? ''}" required></label>`;
      const html = {
        Limit: tagSel + `<label class="f">${esc(t('rules.limitType'))}<select name="type">${opt(['HighHigh', 'High', 'Low', 'LowLow'], p.type ?? 'High', 'limitType.')}</select></label>`
          + num('setpoint', 'rules.setpoint', p.setpoint) + num('deadband', 'rules.deadband', p.deadband ?? 0),
        RateOfChange: tagSel + num('maxRatePerSecond', 'rules.maxRate', p.maxRatePerSecond) + num('windowSeconds', 'rules.window', p.windowSeconds ?? 60)
          + `<label class="f">${esc(t('rules.direction'))}<select name="direction">${opt(['Either', 'Rising', 'Falling'], p.direction ?? 'Either', 'direction.')}</select></label>` + num('deadband', 'rules.deadband', p.deadband ?? 0),
        StateDuration: tagSel + `<label class="f">${esc(t('rules.state'))}<input name="state" value="${esc(p.state ?? '')}" required></label>`
          + `<label class="f">${esc(t('rules.negate'))}<input name="negate" type="checkbox" ${p.negate ? 'checked' : ''}></label>` + num('durationSeconds', 'rules.duration', p.durationSeconds),
        Expression: `<label>${esc(t('rules.expression'))}<textarea name="expression" rows="3" data-testid="rule-expression" spellcheck="false">${esc(r.expression ?? '')}</textarea></label>
          <p class="muted">${esc(t('rules.expressionHelp'))} <code>${esc(tags.join(', '))}</code></p>`,
      }[kind];
      ed.querySelector('#params').innerHTML = `<legend>${esc(t('ruleKind.' + kind))}</legend>${html}`;
    }
    f.kind.onchange = renderParams;
    f.equipmentTypeId.onchange = renderParams;
    renderParams();

    function collect() {
      const n = name => f[name]?.value === '' || f[name] === undefined ? undefined : Number(f[name].value);
      const body = {
        id: f.id.value.trim(), name: f.name.value.trim(), equipmentTypeId: f.equipmentTypeId.value, kind: f.kind.value,
        priority: f.priority.value, message: f.message.value || undefined, enabled: f.enabled.checked,
        onDelaySeconds: n('onDelaySeconds') ?? 0, offDelaySeconds: n('offDelaySeconds') ?? 0,
      };
      if (body.kind === 'Limit') body.limit = { tag: f.tag.value, type: f.type.value, setpoint: n('setpoint'), deadband: n('deadband') ?? 0 };
      if (body.kind === 'RateOfChange') body.rateOfChange = { tag: f.tag.value, maxRatePerSecond: n('maxRatePerSecond'), windowSeconds: n('windowSeconds') ?? 60, direction: f.direction.value, deadband: n('deadband') ?? 0 };
      if (body.kind === 'StateDuration') body.stateDuration = { tag: f.tag.value, state: f.state.value, negate: f.negate.checked, durationSeconds: n('durationSeconds') };
      if (body.kind === 'Expression') body.expression = f.expression.value;
      return body;
    }
    function showErrors(errors) {
      ed.querySelector('#errors').innerHTML = errors.map(e => `<li>${esc(e.field)}${e.position !== null && e.position !== undefined ? ` (${esc(t('rules.position', { p: e.position }))})` : ''}: ${esc(e.message)}</li>`).join('');
      ed.querySelector('#status').innerHTML = errors.length ? '' : `<span class="ok">✓ ${esc(t('rules.valid'))}</span>`;
    }
    ed.querySelector('#validate').onclick = () => guard(async () => showErrors(await api('api/rules/validate', { method: 'POST', body: collect() })));
    f.onsubmit = e => {
      e.preventDefault();
      guard(async () => {
        const body = collect();
        const errors = await api('api/rules/validate', { method: 'POST', body });
        showErrors(errors);
        if (errors.length) return;
        const saved = isNew ? await api('api/rules', { method: 'POST', body }) : await api(`api/rules/${encodeURIComponent(body.id)}`, { method: 'PUT', body });
        const i = rules.findIndex(x => x.id === saved.id);
        if (i >= 0) rules[i] = saved; else rules.push(saved);
        renderList();
        toast(t('rules.saved', { id: saved.id }));
        edit(saved);
      });
    };
    ed.querySelector('#delete')?.addEventListener('click', () => guard(async () => {
      if (!confirm(t('rules.confirmDelete', { id: r.id }))) return;
      await api(`api/rules/${encodeURIComponent(r.id)}`, { method: 'DELETE' });
      rules.splice(rules.findIndex(x => x.id === r.id), 1);
      renderList();
      ed.innerHTML = '';
      toast(t('rules.deleted', { id: r.id }));
    }));
  }

  if (editId) edit(rules.find(r => r.id === decodeURIComponent(editId)) ?? null);
  else main.querySelector('#editor').innerHTML = `<p class="muted">${esc(t('rules.pickOrNew'))}</p>`;
  return {};
}
