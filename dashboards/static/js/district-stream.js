/* The district overview's data: GET /api/district once (fast first picture, and the place
 * to ask for a viewer token where reads need one), then /api/district/stream, which sends
 * the whole summary again after every change. Kept open by js/sse.js (the browser retries
 * on its own; when it gives up, a new stream); when /readyz says the server is gone while
 * the stream looks open, the page opens a new stream itself. Each summary is whole,
 * so nothing missed while away needs replaying. */
import { t } from './i18n.js';
import { getJson, saveReadToken } from './api.js';
import { liveStream } from './sse.js';
import { render, renderConn, renderSystemBanner, view } from './district-render.js';

let readyFailures = 0;

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

let stream = null;

/** Open the stream (again): js/sse.js keeps it open. */
export function connect() {
  if (stream) { stream.reopen(); return; }
  stream = liveStream('/api/district/stream', {
    onState: (state) => { if (view.conn !== state) setConn(state); },
    events: { summary: onSummary },
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
