/* Talking to the service: JSON requests that never throw, the screen's read token and
 * site (?site=, sent with every call), and the staff session (log-in with a PIN, kept for
 * the shift in this tab's sessionStorage). Shared by the duty screen and the handover panel. */
import { readStorage, writeStorage } from './storage.js';

const READ_TOKEN = 'carewatch.readToken';
const SESSION = 'carewatch.session';
const LAST_STAFF = 'carewatch.lastStaff';

/** A read token (reads need one unless the service keeps them open): opened once as
 *  /?token=..., then kept by this screen's browser. */
export function readToken() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('token');
  if (fromUrl) {
    writeStorage(localStorage, READ_TOKEN, fromUrl);
    params.delete('token'); // not left in the address bar; ?site= stays
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : ''));
  }
  return readStorage(localStorage, READ_TOKEN);
}

/** The site this screen shows: ?site=<id> in the address (kept there); '' when the page
 *  has none (the caller's only site, which the service picks itself). */
export function siteId() {
  return new URLSearchParams(location.search).get('site') || '';
}

/** `url` with the screen's site: every API call, the stream and the report link carry it,
 *  so a screen of a service of several sites shows its own site's alerts only. */
export function withSite(url) {
  const site = siteId();
  if (!site || !url.startsWith('/api/')) return url;
  return `${url}${url.includes('?') ? '&' : '?'}site=${encodeURIComponent(site)}`;
}

/** Keep a token typed in when the service asked for one. */
export function saveReadToken(token) {
  writeStorage(localStorage, READ_TOKEN, token);
}

/** Authorization header for reads, empty when the home keeps reads open. */
export function readHeaders() {
  const token = readToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function detailOf(data) {
  if (!data || typeof data !== 'object') return null;
  const d = data.detail;
  if (typeof d === 'string') return d;
  if (Array.isArray(d)) return d.map((x) => (x && x.msg) || '').filter(Boolean).join('; ') || null;
  return null;
}

/** fetch + JSON that never throws: {ok, status, data, detail}; status 0 when the server
 *  could not be reached. Sends the viewer token unless the caller brings its own. */
export async function getJson(url, options = {}) {
  try {
    const headers = { ...readHeaders(), ...(options.headers || {}) };
    const resp = await fetch(withSite(url), { cache: 'no-store', ...options, headers });
    let data = null;
    const text = await resp.text();
    if (text) { try { data = JSON.parse(text); } catch (_e) { data = null; } }
    return { ok: resp.ok, status: resp.status, data, detail: detailOf(data) };
  } catch (_e) {
    return { ok: false, status: 0, data: null, detail: null };
  }
}

/** POST a JSON body with a staff session's token. */
export function postJson(url, body, session) {
  const headers = { 'Content-Type': 'application/json' };
  if (session) headers.Authorization = `Bearer ${session.token}`;
  return getJson(url, { method: 'POST', headers, body: JSON.stringify(body) });
}

const expiresMs = (s) => (s && s.expires_at ? Date.parse(s.expires_at) : NaN);

/** The session kept in this tab, or null when there is none or it has expired. */
export function loadSession() {
  try {
    const s = JSON.parse(readStorage(sessionStorage, SESSION) || 'null');
    if (s && s.token && (!s.expires_at || expiresMs(s) > Date.now())) return s;
  } catch (_e) { /* ignore */ }
  return null;
}

/** Keep (or with null forget) the session; the last staff id preselects the next log-in. */
export function saveSession(s) {
  writeStorage(sessionStorage, SESSION, s ? JSON.stringify(s) : null);
  if (s && s.staff_id) writeStorage(localStorage, LAST_STAFF, s.staff_id);
}

/** Whether `s` is past its expiry time. */
export function sessionExpired(s) { return expiresMs(s) <= Date.now(); }

/** The staff id of the last log-in on this screen, to preselect. */
export function lastStaff() { return readStorage(localStorage, LAST_STAFF) || ''; }

/** POST /api/session: a staff member's PIN for a session token (see getJson's result). */
export function login(staffId, pin) {
  return postJson('/api/session', { staff_id: staffId, pin }, null);
}
