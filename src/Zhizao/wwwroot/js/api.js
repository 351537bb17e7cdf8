// HTTP access to the node's API: the token (when the node requires one), problem+json errors, server-sent events.
const TOKEN_KEY = 'zhizao.token';

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(token, remember) {
  sessionStorage.setItem(TOKEN_KEY, token);
  if (remember) localStorage.setItem(TOKEN_KEY, token); else localStorage.removeItem(TOKEN_KEY);
}

/** An API error: status, the problem's title and detail (which names the field or line at fault). */
export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail ? `${title}: ${detail}` : `${status} ${title}`.replace(`${status} ${status} `, `${status} `));
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) { onUnauthorized = handler; }

function headers(extra) {
  const h = { ...extra };
  const t = getToken();
  if (t) h.Authorization = `Token ${t}`;
  return h;
}

async function failure(r) {
  let title = `${r.status} ${r.statusText}`, detail = '';
  try {
    const p = await r.json();
    title = p.title || p.code || title;
    detail = p.detail || p.message || '';
  } catch { /* not JSON */ }
  if (r.status === 401) onUnauthorized();
  return new ApiError(r.status, title, detail);
}

/** JSON request. Throws ApiError on any non-2xx answer. */
export async function api(path, { method = 'GET', body } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }) };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const r = await fetch(path, init);
  if (!r.ok) throw await failure(r);
  if (r.status === 204) return null;
  const type = r.headers.get('Content-Type') || '';
  return type.includes('json') ? r.json() : r.text();
}

/** Downloads a file from the API (with the token) and hands it to the browser's save dialog. */
export async function download(path, fallbackName) {
  const r = await fetch(path, { headers: headers() });
  if (!r.ok) throw await failure(r);
  const cd = r.headers.get('Content-Disposition') || '';
  const m = /filename="?([^";]+)"?/.exec(cd);
  const blob = await r.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = m ? m[1] : fallbackName;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

/** Uploads raw text (YAML/JSON model import, CSV). */
export async function upload(path, text, contentType) {
  const r = await fetch(path, { method: 'POST', headers: headers({ 'Content-Type': contentType }), body: text });
  if (!r.ok) throw await failure(r);
  return r.status === 204 ? null : r.json();
}

/**
 * Server-sent events over fetch (EventSource cannot send the Authorization header). Reconnects with back-off and
 * calls onState(true/false) as the stream opens and drops. Returns { close() }.
 */
export function openEvents(path, onEvent, onState) {
  let closed = false, controller = null, delay = 500;
  async function run() {
    while (!closed) {
      controller = new AbortController();
      try {
        const r = await fetch(path, { headers: headers({ Accept: 'text/event-stream' }), signal: controller.signal });
        if (!r.ok) throw await failure(r);
        onState(true);
        delay = 500;
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let name = 'message', data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) name = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            if (data) {
              try { onEvent(name, JSON.parse(data)); } catch (e) { console.error('live event', name, e); }
            }
          }
        }
      } catch (e) {
        if (closed) return;
        if (e.status === 401) { onState(false); return; }
      }
      if (closed) return;
      onState(false);
      await new Promise(res => setTimeout(res, delay));
      delay = Math.min(delay * 2, 10000);
    }
  }
  run();
  return { close() { closed = true; controller?.abort(); } };
}
