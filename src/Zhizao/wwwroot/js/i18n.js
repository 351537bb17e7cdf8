// UI text from /i18n/{lang}.json (en, zh). Elements with data-i18n get their text replaced; t() for code.
let dict = {};
export let lang = 'en';

export async function initI18n() {
  const saved = localStorage.getItem('zhizao.lang');
  lang = saved || ((navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en');
  if (lang !== 'en' && lang !== 'zh') lang = 'en';
  const r = await fetch(`i18n/${lang}.json`);
  dict = r.ok ? await r.json() : {};
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  translate(document);
}

export function setLang(l) {
  localStorage.setItem('zhizao.lang', l);
  location.reload();
}

/** The text for key, with {name} placeholders filled from vars; the key itself when missing. */
export function t(key, vars) {
  let s = dict[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

export function translate(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
}
