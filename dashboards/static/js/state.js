/* The screen's one state object (what the page knows), the rule sets it sorts by, and
 * the order of alerts: the most urgent first everywhere on the page. */
import { ms } from './format.js';

export const SYSTEM_RULES = new Set([
  'broker_disconnected', 'store_unreachable', 'ingest_silent', 'spool_backlog', 'engine_lag',
]);
export const DEVICE_RULES = new Set([
  'device_offline', 'battery_low', 'battery_low_reported', 'tamper', 'device_fault',
]);
export const PRIORITY_RANK = { emergency: 0, routine: 1, trouble: 2 };
const STATE_RANK = { active_unack: 0, cleared_unack: 1, active_ack: 2, shelved: 3 };
const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
export const SHAPE = { emergency: '▲', routine: '●', trouble: '■' };

export const state = {
  alerts: new Map(), // id -> alert (open alerts only)
  lastId: 0, // audit id the current view is up to date with
  snapshotReceived: false,
  snapshotSeenBefore: false,
  meta: null,
  devices: null, // array once loaded
  devicesById: new Map(),
  unregistered: [],
  conn: 'connecting', // connecting | open | lost
  lostSince: null,
  readyz: null, // {ok, checks}
  session: null,
  recent: [], // [{change, replay}]
  replayCount: 0,
  view: 'alerts',
  openRoom: null, // {floor, room} of the room dialog
  historyDevice: null,
  notifications: null,
};

/** The priority class of an alert for shapes and colours: unknown ones count as trouble. */
export function priorityOf(a) {
  return a && a.priority in SHAPE ? a.priority : 'trouble';
}

/** Keep `a` (or drop it once closed); returns the alert it replaced. */
export function upsertAlert(a) {
  const key = String(a.id);
  const old = state.alerts.get(key);
  if (a.state === 'closed') state.alerts.delete(key);
  else state.alerts.set(key, a);
  return old;
}

function rank(table, key, dflt = 9) {
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : dflt;
}

/** Emergency first, then unacknowledged, then severity, then oldest first (id breaks ties). */
export function compareAlerts(a, b) {
  return rank(PRIORITY_RANK, a.priority) - rank(PRIORITY_RANK, b.priority)
    || rank(STATE_RANK, a.state) - rank(STATE_RANK, b.state)
    || rank(SEVERITY_RANK, a.severity) - rank(SEVERITY_RANK, b.severity)
    || (ms(a.raised_at) || 0) - (ms(b.raised_at) || 0)
    || String(a.id).localeCompare(String(b.id), 'en', { numeric: true });
}

/** Open alerts (those passing `filter`, if given) in screen order. */
export function sortedAlerts(filter) {
  const list = [];
  for (const a of state.alerts.values()) if (!filter || filter(a)) list.push(a);
  return list.sort(compareAlerts);
}

/** The most urgent of `alerts` (priority, then unacknowledged, then severity). */
export function worstAlert(alerts) {
  let worst = null;
  for (const a of alerts) if (!worst || compareAlerts(a, worst) < 0) worst = a;
  return worst;
}
