/* The live alert stream (Server-Sent Events): a snapshot, then every change. The browser
 * resends Last-Event-ID on its own reconnects; when the page must open a new EventSource
 * itself (the browser gave up, or /readyz says the server is gone while the stream looks
 * open) it passes the last id in the query, so nothing that happened meanwhile is lost. */
import { t } from './i18n.js';
import { DEVICE_RULES, state, upsertAlert } from './state.js';
import { $ } from './dom.js';
import { getJson, readToken, withSite } from './api.js';
import { scheduleRender } from './render.js';
import { soundTick, unmute } from './sound.js';
import { renderConn, renderSystemBanner } from './banners.js';
import { scheduleDevicesRefresh } from './devices.js';
import { noteAlertChange, refreshEquipment } from './equipment.js';

const RECENT_MAX = 40;
const RECONNECT_MS = 3000;
const REPLAY_NOTICE_MS = 10000;

let source = null;
let reconnectTimer = null;
let replayTimer = null;
let readyFailures = 0;

function parseJson(text) {
  try { return JSON.parse(text); } catch (_e) { return null; }
}

function setConn(conn) {
  if (conn === 'lost' && state.conn !== 'lost') state.lostSince = Date.now();
  if (conn === 'open') { state.lostSince = null; state.replayCount = 0; }
  state.conn = conn;
  renderConn();
  soundTick();
}

function showReplayNotice() {
  state.replayCount += 1;
  const el = $('replay-notice');
  el.textContent = t('screen.replay_notice', { n: state.replayCount });
  el.hidden = false;
  clearTimeout(replayTimer);
  replayTimer = setTimeout(() => { el.hidden = true; }, REPLAY_NOTICE_MS);
}

function onSnapshot(snap) {
  if (!snap || typeof snap !== 'object') return;
  if (state.conn !== 'open') setConn('open');
  const unacked = () => [...state.alerts.values()].filter((a) => a.state === 'active_unack');
  const before = new Set(unacked().map((a) => a.id));
  state.alerts.clear();
  for (const a of Array.isArray(snap.alerts) ? snap.alerts : []) {
    if (a && a.id != null && a.state !== 'closed') state.alerts.set(String(a.id), a);
  }
  state.lastId = Number(snap.last_id) || 0;
  state.snapshotReceived = true;
  // an alarm that appeared while we were away is a new raise
  if (state.snapshotSeenBefore && unacked().some((a) => !before.has(a.id))) unmute();
  state.snapshotSeenBefore = true;
  refreshEquipment(); // what changed while the stream was away
  scheduleRender();
  soundTick();
}

function onChange(c, lastEventId) {
  if (!c || typeof c !== 'object') return;
  if (state.conn !== 'open') setConn('open');
  const id = Number(c.id != null ? c.id : lastEventId);
  const fresh = !Number.isFinite(id) || id > state.lastId;
  if (Number.isFinite(id) && id > state.lastId) state.lastId = id;
  const a = c.alert && typeof c.alert === 'object' && c.alert.id != null ? c.alert : null;
  if (a && fresh) {
    const old = upsertAlert(a);
    const newlyUnack = a.state === 'active_unack' && (!old || old.state !== 'active_unack');
    if (c.action === 'raise' || newlyUnack) unmute();
  }
  state.recent.unshift({ change: c, replay: !!c.replay });
  if (state.recent.length > RECENT_MAX) state.recent.length = RECENT_MAX;
  if (c.replay) showReplayNotice();
  if (a && DEVICE_RULES.has(a.rule)) scheduleDevicesRefresh();
  if (a) noteAlertChange(a);
  scheduleRender();
  soundTick();
}

/** Open the stream; `resume` continues after the last change this page has seen. */
export function connect(resume = false) {
  clearTimeout(reconnectTimer);
  if (source) { source.close(); source = null; }
  if (typeof EventSource === 'undefined') return;
  const params = new URLSearchParams();
  if (resume && state.lastId) params.set('last_event_id', state.lastId);
  const token = readToken();
  if (token) params.set('access_token', token);
  const url = withSite(`/api/alerts/stream${params.toString() ? `?${params}` : ''}`);
  const es = new EventSource(url);
  source = es;
  es.onopen = () => { if (source === es) setConn('open'); };
  es.onerror = () => {
    if (source !== es) return;
    setConn('lost');
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. an HTTP error): try again ourselves.
      reconnectTimer = setTimeout(() => connect(true), RECONNECT_MS);
    }
  };
  es.addEventListener('snapshot', (e) => { if (source === es) onSnapshot(parseJson(e.data)); });
  es.addEventListener('change', (e) => { if (source === es) onChange(parseJson(e.data), e.lastEventId); });
}

/** GET /readyz: the orange banner's checks, and a reconnect when the server is gone. */
export async function pollReady() {
  const res = await getJson('/readyz');
  if (res.status === 0) {
    readyFailures += 1;
    // The stream may look open while the server is gone (half-open TCP): reconnect.
    if (readyFailures >= 2 && state.conn === 'open') { setConn('lost'); connect(true); }
  } else {
    readyFailures = 0;
    state.readyz = { ok: res.ok, checks: (res.data && res.data.checks) || null };
  }
  renderSystemBanner();
}
