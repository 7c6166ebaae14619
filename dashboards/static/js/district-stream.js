/* The district overview's data: GET /api/district once (fast first picture, and the place
 * to ask for a viewer token where reads need one), then /api/district/stream, which sends
 * the whole summary again after every change. Reconnects as the duty screen's stream does:
 * the browser retries on its own; when it gives up, or /readyz says the server is gone
 * while the stream looks open, the page opens a new stream itself. Each summary is whole,
 * so nothing missed while away needs replaying. */
import { t } from './i18n.js';
import { getJson, readToken, saveReadToken } from './api.js';
import { render, renderConn, renderSystemBanner, view } from './district-render.js';

const RECONNECT_MS = 3000;

let source = null;
let reconnectTimer = null;
let readyFailures = 0;

function parseJson(text) {
  try { return JSON.parse(text); } catch (_e) { return null; }
}

function setConn(conn) {
  if (conn === 'lost' && view.conn !== 'lost') view.lostSince = Date.now();
  if (conn === 'open') view.lostSince = null;
  view.conn = conn;
  renderConn();
}

function onSummary(summary) {
  if (!summary || typeof summary !== 'object' || !Array.isArray(summary.sites)) return;
  view.summary = summary;
  render();
}

/** GET /api/district once; where reads need a token and none is kept, ask for one. */
export async function load() {
  const res = await getJson('/api/district');
  if (res.ok) { onSummary(res.data); return; }
  if (res.status === 401) {
    const given = window.prompt(t('district.need_read_token'));
    if (given) { saveReadToken(given.trim()); location.reload(); }
  }
}

/** Open the stream (again). */
export function connect() {
  clearTimeout(reconnectTimer);
  if (source) { source.close(); source = null; }
  if (typeof EventSource === 'undefined') return;
  const params = new URLSearchParams();
  const token = readToken();
  if (token) params.set('access_token', token);
  const es = new EventSource(`/api/district/stream${params.toString() ? `?${params}` : ''}`);
  source = es;
  es.onopen = () => { if (source === es) setConn('open'); };
  es.onerror = () => {
    if (source !== es) return;
    setConn('lost');
    if (es.readyState === EventSource.CLOSED) reconnectTimer = setTimeout(connect, RECONNECT_MS);
  };
  es.addEventListener('summary', (e) => {
    if (source !== es) return;
    if (view.conn !== 'open') setConn('open');
    onSummary(parseJson(e.data));
  });
}

/** GET /readyz: the watch's own checks for the orange banner, and a new stream when the
 *  server is gone while the old one looks open (half-open TCP). */
export async function pollReady() {
  const res = await getJson('/readyz');
  if (res.status === 0) {
    readyFailures += 1;
    if (readyFailures >= 2 && view.conn === 'open') { setConn('lost'); connect(); }
  } else {
    readyFailures = 0;
    view.readyz = { ok: res.ok, checks: (res.data && res.data.checks) || null };
  }
  renderSystemBanner();
}
