// The console shell: language, sign-in when the node requires a token, the alarm badge, and hash routing to pages.
import { initI18n, setLang, lang, t, translate } from './i18n.js';
import { api, setToken, setUnauthorizedHandler } from './api.js';
import { subscribe, track } from './live.js';
import { esc, debounce } from './util.js';
import * as overview from './pages/overview.js';
import * as equipment from './pages/equipment.js';
import * as tags from './pages/tags.js';
import * as alarms from './pages/alarms.js';
import * as rules from './pages/rules.js';
import * as assets from './pages/assets.js';
import * as health from './pages/health.js';
import * as connectors from './pages/connectors.js';

const routes = { '': overview, equipment, tags, alarms, rules, assets, health, connectors };
const main = document.getElementById('main');
let current = null;
let rendering = 0;

async function render() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const [name, ...args] = parts;
  const page = routes[name] ?? null;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.route === (name === 'equipment' ? '' : name));
  const ticket = ++rendering;
  try { current?.unmount?.(); } catch (e) { console.error(e); }
  current = null;
  if (!page) {
    main.innerHTML = `<h1>${esc(t('common.notFound'))}</h1><p><a href="#/">${esc(t('nav.overview'))}</a></p>`;
    return;
  }
  main.innerHTML = `<p class="muted">${esc(t('common.loading'))}</p>`;
  try {
    const mounted = await page.mount(main, args);
    if (ticket !== rendering) { mounted?.unmount?.(); return; }
    current = mounted;
    translate(main);
    document.body.dataset.page = name || 'overview';
  } catch (e) {
    if (ticket !== rendering) return;
    main.innerHTML = `<h1>${esc(t('common.error'))}</h1><p class="errors" data-testid="page-error">${esc(e.message || String(e))}</p>`;
  }
}

const badge = document.getElementById('alarm-badge');
async function updateBadge() {
  try {
    const list = await api('api/alarms');
    const active = list.filter(a => a.active && a.shelving === 'Unshelved' && !a.suppressedByDesign && !a.outOfService).length;
    const unacked = list.filter(a => !a.acknowledged).length;
    badge.querySelector('.count').textContent = String(active);
    badge.classList.toggle('has', active > 0 || unacked > 0);
    badge.classList.toggle('unacked', unacked > 0);
    badge.title = t('header.badgeTitle', { active, unacked });
    badge.dataset.active = String(active);
    badge.dataset.unacked = String(unacked);
  } catch { /* shown by the page */ }
}

function askToken() {
  const d = document.getElementById('login');
  if (d.open) return;
  d.showModal();
  d.addEventListener('close', () => {
    const v = document.getElementById('login-token').value.trim();
    if (v) { setToken(v, document.getElementById('login-remember').checked); location.reload(); }
  }, { once: true });
}

async function start() {
  await initI18n();
  const sel = document.getElementById('lang');
  sel.value = lang;
  sel.onchange = () => setLang(sel.value);
  setUnauthorizedHandler(askToken);
  const refreshBadge = debounce(updateBadge, 250);
  subscribe(name => { if (name === 'alarms' || name === 'resync') refreshBadge(); });
  track({});
  window.addEventListener('hashchange', render);
  await Promise.all([render(), updateBadge()]);
}

start();
