// Connectors: OPC UA and Modbus connectors of the node with their health (refreshed every 2 s), an editor for each
// kind, an OPC UA browse tree to pick nodes and map them to equipment tags, Modbus register rows with a "read once"
// check. The server validates on save; its error names the field (e.g. modbus.mappings[2].address).
import { api } from '../api.js';
import { track } from '../live.js';
import { t } from '../i18n.js';
import { esc, fmtAgo, guard, toast } from '../util.js';

const TABLES = ['HoldingRegister', 'InputRegister', 'Coil', 'DiscreteInput'];
const TYPES = ['UInt16', 'Int16', 'UInt32', 'Int32', 'UInt64', 'Int64', 'Float32', 'Float64', 'Bit', 'Bool', 'String'];
const ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'];
const DOT = { Connected: 's2', Connecting: 's1', Reconnecting: 's1', Faulted: 's0', Disabled: 'sx' };

export async function mount(main, [editName]) {
  track({});
  const [assets, types] = await Promise.all([api('api/assets?level=Equipment'), api('api/types')]);
  const equipment = assets.filter(a => a.typeId && !a.id.startsWith('connector-')).map(a => a.id).sort();
  const tagsOf = id => (types.find(x => x.id === assets.find(a => a.id === id)?.typeId)?.tags ?? []).map(x => x.name);
  let connectors = [];

  main.innerHTML = `
    <h1 data-testid="page-title">${esc(t('connectors.title'))}</h1>
    <section class="panel">
      <div class="btns" style="justify-content:space-between"><h2>${esc(t('connectors.list'))}</h2>
        <span class="btns"><button class="primary" id="new-opcua" data-testid="new-opcua">${esc(t('connectors.newOpcUa'))}</button>
        <button class="primary" id="new-modbus" data-testid="new-modbus">${esc(t('connectors.newModbus'))}</button></span></div>
      <table><thead><tr><th>${esc(t('connectors.name'))}</th><th>${esc(t('connectors.kind'))}</th><th>${esc(t('connectors.target'))}</th>
        <th>${esc(t('connectors.state'))}</th><th>${esc(t('connectors.lastValue'))}</th><th class="num">${esc(t('connectors.values'))}</th>
        <th class="num">${esc(t('connectors.errors'))}</th><th>${esc(t('connectors.lastError'))}</th></tr></thead>
      <tbody id="list" data-testid="connector-list"></tbody></table>
    </section>
    <section class="panel" id="editor"><p class="muted">${esc(t('connectors.pickOrNew'))}</p></section>`;

  const list = main.querySelector('#list');
  function renderList() {
    list.innerHTML = connectors.map(({ config: c, health: h }) => {
      const target = c.opcUa?.endpointUrl ?? (c.modbus ? `${c.modbus.host}:${c.modbus.port} · ${t('connectors.unit')} ${c.modbus.unitId}` : '');
      const errors = h ? Object.entries(h.errors).map(([k, n]) => `${k} ${n}`).join(', ') : '';
      return `<tr class="clickable" data-name="${esc(c.name)}" data-state="${esc(h?.state ?? '')}">
        <td><span class="dot ${DOT[h?.state] ?? 'sx'}"></span> ${esc(c.name)}</td><td>${esc(c.kind === 'OpcUa' ? 'OPC UA' : 'Modbus TCP')}</td>
        <td>${esc(target)}</td><td data-testid="state-${esc(c.name)}">${esc(t('connectorState.' + (h?.state ?? 'Disabled')))}</td>
        <td>${h?.lastValueNs ? esc(fmtAgo(h.lastValueNs)) : '—'}</td><td class="num">${h?.valuesReceived ?? 0}</td>
        <td class="num" title="${esc(errors)}">${h?.errorCount ?? 0}</td><td class="muted">${esc(h?.lastError ?? '')}</td></tr>`;
    }).join('') || `<tr><td colspan="8" class="muted">${esc(t('connectors.none'))}</td></tr>`;
  }
  async function load() {
    connectors = await api('api/connectors');
    renderList();
  }
  list.onclick = e => { const tr = e.target.closest('tr[data-name]'); if (tr) edit(connectors.find(c => c.config.name === tr.dataset.name)?.config); };
  main.querySelector('#new-opcua').onclick = () => edit(null, 'OpcUa');
  main.querySelector('#new-modbus').onclick = () => edit(null, 'Modbus');
  await load();
  const timer = setInterval(() => load().catch(() => {}), 2000);

  const opt = (values, current, label = v => v) => values.map(v => `<option value="${esc(v)}" ${v === current ? 'selected' : ''}>${esc(label(v))}</option>`).join('');
  const eqSelect = (cur) => `<select name="equipment">${opt(equipment.includes(cur) || !cur ? equipment : [cur, ...equipment], cur)}</select>`;
  const tagSelect = (eq, cur) => `<select name="tag">${opt(tagsOf(eq), cur)}</select>`;

  function edit(config, kind) {
    const isNew = !config;
    const c = config ?? (kind === 'OpcUa'
      ? { name: '', kind, enabled: true, alarmAfterSeconds: 30, opcUa: { endpointUrl: 'opc.tcp://127.0.0.1:4840', security: 'None', publishingIntervalMs: 500, backfill: true, mappings: [] } }
      : { name: '', kind, enabled: true, alarmAfterSeconds: 30, modbus: { host: '127.0.0.1', port: 502, unitId: 1, pollIntervalMs: 1000, timeoutMs: 1000, retries: 2, mappings: [] } });
    const ed = main.querySelector('#editor');
    const o = c.opcUa, m = c.modbus;
    const num = (name, label, v, extra = '') => `<label class="f">${esc(t(label))}<input name="${name}" type="number" step="any" value="${v ?? ''}" ${extra}></label>`;
    ed.innerHTML = `<h2>${esc(isNew ? t(c.kind === 'OpcUa' ? 'connectors.newOpcUa' : 'connectors.newModbus') : t('connectors.edit', { name: c.name }))}</h2>
      <form id="f" data-testid="connector-form" autocomplete="off">
        <label class="f">${esc(t('connectors.name'))}<input name="name" value="${esc(c.name)}" ${isNew ? '' : 'readonly'} required pattern="[A-Za-z0-9._\\-]{1,100}"></label>
        <label class="f">${esc(t('connectors.enabled'))}<input name="enabled" type="checkbox" ${c.enabled !== false ? 'checked' : ''}></label>
        ${num('alarmAfterSeconds', 'connectors.alarmAfter', c.alarmAfterSeconds ?? 30, 'min="0"')}
        ${o ? `<label class="f">${esc(t('connectors.endpoint'))}<input name="endpointUrl" value="${esc(o.endpointUrl)}" required></label>
          <label class="f">${esc(t('connectors.security'))}<select name="security">${opt(['None', 'Sign', 'SignAndEncrypt'], o.security ?? 'None', v => t('security.' + v))}</select></label>
          <label class="f">${esc(t('connectors.user'))}<input name="userName" value="${esc(o.userName ?? '')}"></label>
          <label class="f">${esc(t('connectors.password'))}<input name="password" type="password" value="" placeholder="${o.password ? esc(t('connectors.passwordSet')) : ''}"></label>
          <label class="f">${esc(t('connectors.autoAccept'))}<input name="autoAccept" type="checkbox" ${o.autoAcceptServerCertificate ? 'checked' : ''}></label>
          ${num('publishingIntervalMs', 'connectors.publishing', o.publishingIntervalMs ?? 500, 'min="10"')}
          <label class="f">${esc(t('connectors.backfill'))}<input name="backfill" type="checkbox" ${o.backfill !== false ? 'checked' : ''}></label>`
        : `<label class="f">${esc(t('connectors.host'))}<input name="host" value="${esc(m.host)}" required></label>
          ${num('port', 'connectors.port', m.port, 'min="1" max="65535"')}${num('unitId', 'connectors.unit', m.unitId, 'min="0" max="255"')}
          ${num('pollIntervalMs', 'connectors.poll', m.pollIntervalMs, 'min="10"')}${num('timeoutMs', 'connectors.timeout', m.timeoutMs, 'min="10"')}
          ${num('retries', 'connectors.retries', m.retries, 'min="0" max="10"')}`}
        <h3>${esc(t('connectors.mappings'))}</h3>
        <div class="scroll"><table><thead id="mhead"></thead><tbody id="rows" data-testid="mapping-rows"></tbody></table></div>
        <div class="btns">${o ? `<button type="button" id="browse" data-testid="browse">${esc(t('connectors.browse'))}</button>`
          : `<button type="button" id="add-row" data-testid="add-register">${esc(t('connectors.addRegister'))}</button>
             <button type="button" id="read" data-testid="read-registers">${esc(t('connectors.readOnce'))}</button>`}</div>
        ${o ? `<div id="tree" class="tree" data-testid="browse-tree"></div>` : ''}
        <ul class="errors" id="errors" data-testid="connector-errors"></ul>
        <div class="btns"><button type="submit" class="primary" data-testid="connector-save">${esc(t('common.save'))}</button>
          ${isNew ? '' : `<button type="button" class="danger" id="delete">${esc(t('common.delete'))}</button>`}</div>
      </form>`;
    const f = ed.querySelector('#f');
    const rows = ed.querySelector('#rows');
    ed.querySelector('#mhead').innerHTML = o
      ? `<tr><th>${esc(t('connectors.nodeId'))}</th><th>${esc(t('col.equipment'))}</th><th>${esc(t('col.tag'))}</th><th>${esc(t('connectors.sampling'))}</th><th>${esc(t('connectors.deadband'))}</th><th></th></tr>`
      : `<tr><th>${esc(t('connectors.table'))}</th><th>${esc(t('connectors.address'))}</th><th>${esc(t('connectors.type'))}</th><th>${esc(t('connectors.byteOrder'))}</th><th>${esc(t('connectors.scale'))}</th><th>${esc(t('connectors.offset'))}</th><th>${esc(t('connectors.lengthBit'))}</th><th>${esc(t('col.equipment'))}</th><th>${esc(t('col.tag'))}</th><th>${esc(t('connectors.read'))}</th><th></th></tr>`;
    const cell = (name, v, attrs = '') => `<td><input name="${name}" value="${esc(v ?? '')}" ${attrs}></td>`;
    function addRow(r) {
      const eq = r.equipment ?? equipment[0] ?? '';
      const tr = document.createElement('tr');
      tr.innerHTML = o
        ? `${cell('nodeId', r.nodeId, 'required style="width:22em"')}<td>${eqSelect(eq)}</td><td>${tagSelect(eq, r.tag)}</td>${cell('samplingIntervalMs', r.samplingIntervalMs ?? 250, 'type="number" step="any" min="0" style="width:6em"')}${cell('deadband', r.deadband, 'type="number" step="any" min="0" style="width:6em"')}<td><button type="button" data-remove>✕</button></td>`
        : `<td><select name="table">${opt(TABLES, r.table ?? 'HoldingRegister')}</select></td>${cell('address', r.address ?? 0, 'type="number" min="0" max="65535" style="width:6em"')}
           <td><select name="type">${opt(TYPES, r.type ?? 'UInt16')}</select></td><td><select name="byteOrder">${opt(ORDERS, r.byteOrder ?? 'ABCD')}</select></td>
           ${cell('scale', r.scale ?? 1, 'type="number" step="any" style="width:5em"')}${cell('offset', r.offset ?? 0, 'type="number" step="any" style="width:5em"')}
           ${cell('lengthBit', r.type === 'String' ? r.length : r.type === 'Bit' ? r.bit : '', 'type="number" min="0" style="width:4em"')}
           <td>${eqSelect(eq)}</td><td>${tagSelect(eq, r.tag)}</td><td class="num" data-read></td><td><button type="button" data-remove>✕</button></td>`;
      tr.querySelector('select[name=equipment]').onchange = e => { tr.querySelector('select[name=tag]').outerHTML = tagSelect(e.target.value); };
      tr.querySelector('[data-remove]').onclick = () => tr.remove();
      rows.appendChild(tr);
    }
    for (const r of (o ?? m).mappings) addRow(r);

    const val = (tr, n) => tr.querySelector(`[name=${n}]`)?.value;
    const numOr = (v, d) => v === '' || v === undefined || v === null ? d : Number(v);
    function registerOf(tr) {
      const type = val(tr, 'type'), lb = numOr(val(tr, 'lengthBit'), 0);
      return { table: val(tr, 'table'), address: numOr(val(tr, 'address'), 0), type, byteOrder: val(tr, 'byteOrder'), scale: numOr(val(tr, 'scale'), 1),
        offset: numOr(val(tr, 'offset'), 0), length: type === 'String' ? lb : 0, bit: type === 'Bit' ? lb : 0 };
    }
    function collect() {
      const body = { name: f.name.value.trim(), kind: c.kind, enabled: f.enabled.checked, alarmAfterSeconds: numOr(f.alarmAfterSeconds.value, 30), description: c.description };
      const trs = [...rows.querySelectorAll('tr')];
      if (o) {
        body.opcUa = { endpointUrl: f.endpointUrl.value.trim(), security: f.security.value, userName: f.userName.value || undefined,
          password: f.password.value || (o.password && f.userName.value ? 'set' : undefined), autoAcceptServerCertificate: f.autoAccept.checked,
          publishingIntervalMs: numOr(f.publishingIntervalMs.value, 500), backfill: f.backfill.checked,
          mappings: trs.map(tr => ({ nodeId: val(tr, 'nodeId').trim(), equipment: val(tr, 'equipment'), tag: val(tr, 'tag'),
            samplingIntervalMs: numOr(val(tr, 'samplingIntervalMs'), 250), deadband: numOr(val(tr, 'deadband'), undefined) })) };
      } else {
        body.modbus = { host: f.host.value.trim(), port: numOr(f.port.value, 502), unitId: numOr(f.unitId.value, 1), pollIntervalMs: numOr(f.pollIntervalMs.value, 1000),
          timeoutMs: numOr(f.timeoutMs.value, 1000), retries: numOr(f.retries.value, 2),
          mappings: trs.map(tr => ({ ...registerOf(tr), equipment: val(tr, 'equipment'), tag: val(tr, 'tag') })) };
      }
      return body;
    }
    const showErrors = text => { ed.querySelector('#errors').innerHTML = text ? text.split('; ').map(s => `<li>${esc(s)}</li>`).join('') : ''; };

    ed.querySelector('#add-row')?.addEventListener('click', () => addRow({}));
    ed.querySelector('#read')?.addEventListener('click', () => guard(async () => {
      const trs = [...rows.querySelectorAll('tr')];
      const res = await api('api/connectors/modbus/read', { method: 'POST', body: { host: f.host.value.trim(), port: numOr(f.port.value, 502), unitId: numOr(f.unitId.value, 1), timeoutMs: numOr(f.timeoutMs.value, 1000), points: trs.map(registerOf) } });
      for (const p of res.points) {
        const td = trs[p.index].querySelector('[data-read]');
        td.textContent = p.value ?? '⚠';
        td.title = p.error ?? '';
        td.classList.toggle('errors', !!p.error);
      }
    }));

    // the browse tree: each Object/Variable expands on click; "map" adds a mapping row for a variable
    async function browseInto(container, nodeId) {
      const body = { endpointUrl: f.endpointUrl.value.trim(), security: f.security.value, userName: f.userName.value || undefined, nodeId,
        password: f.password.value || undefined, connector: !isNew && !f.password.value ? c.name : undefined, autoAcceptServerCertificate: f.autoAccept.checked };
      const nodes = await api('api/connectors/opcua/browse', { method: 'POST', body });
      container.innerHTML = nodes.map(n => `<li data-node="${esc(n.nodeId)}"><span ${n.mayHaveChildren ? 'style="cursor:pointer"' : ''} data-expand>${n.mayHaveChildren ? '▸' : '·'} ${esc(n.displayName)}</span>
        <span class="muted">${esc(n.nodeClass)}${n.dataType ? ' · ' + esc(n.dataType) : ''}${n.value !== null && n.value !== undefined ? ' = ' + esc(n.value) : ''} · ${esc(n.nodeId)}</span>
        ${n.nodeClass === 'Variable' ? `<button type="button" data-map data-testid="map-${esc(n.nodeId)}">${esc(t('connectors.map'))}</button>` : ''}<ul></ul></li>`).join('')
        || `<li class="muted">${esc(t('connectors.noChildren'))}</li>`;
    }
    const tree = ed.querySelector('#tree');
    ed.querySelector('#browse')?.addEventListener('click', () => guard(async () => {
      tree.innerHTML = '<ul></ul>';
      await browseInto(tree.firstChild, undefined);
    }));
    tree?.addEventListener('click', e => {
      const li = e.target.closest('li[data-node]');
      if (!li) return;
      if (e.target.closest('[data-map]')) {
        addRow({ nodeId: li.dataset.node });
        toast(t('connectors.mapped', { node: li.dataset.node }));
      } else if (e.target.closest('[data-expand]')) {
        const ul = li.querySelector(':scope > ul');
        if (ul.childElementCount) ul.innerHTML = '';
        else guard(() => browseInto(ul, li.dataset.node));
      }
    });

    f.onsubmit = e => {
      e.preventDefault();
      guard(async () => {
        const body = collect();
        try {
          await api(`api/connectors/${encodeURIComponent(body.name)}`, { method: 'PUT', body });
        } catch (err) {
          showErrors(err.detail || err.message);
          throw err;
        }
        showErrors('');
        toast(t('connectors.saved', { name: body.name }));
        await load();
        edit(connectors.find(x => x.config.name === body.name)?.config);
      });
    };
    ed.querySelector('#delete')?.addEventListener('click', () => guard(async () => {
      if (!confirm(t('connectors.confirmDelete', { name: c.name }))) return;
      await api(`api/connectors/${encodeURIComponent(c.name)}`, { method: 'DELETE' });
      ed.innerHTML = '';
      toast(t('connectors.deleted', { name: c.name }));
      await load();
    }));
  }

  if (editName) edit(connectors.find(c => c.config.name === editName)?.config);
  return { unmount() { clearInterval(timer); } };
}
