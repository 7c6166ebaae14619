/* The fire-equipment tab (消防设施): every fire device of the site by floor, from
 * GET /api/equipment, each with its state as a colour, a sign AND a word (never colour
 * alone), and what that state asks of the carer. The counts come first, then the devices
 * that need someone (fire, faults, no signal, off-normal, disabled, out of service) with
 * since when (the site's time), then each floor.
 *
 * Live: the alert stream (stream.js) tells this module of every alert change; one of a
 * fire device reloads the view (one load for a burst of changes). A maintenance window
 * raises no alert, so the tab also reloads while shown, as often as the devices tab. */
import { t } from './i18n.js';
import { clockText } from './format.js';
import { state } from './state.js';
import { $, agoSpan, h } from './dom.js';
import { deviceTypeLabel, floorLabel, roomLabel, ruleTitle } from './labels.js';
import { getJson } from './api.js';
import { scheduleRender } from './render.js';

// worst first, as the service orders them (alerting/equipment.py STATE_ORDER)
const STATES = ['alarm', 'fault', 'offline', 'supervisory', 'disabled', 'maintenance', 'normal'];
const SIGN = {
  alarm: '▲', fault: '✕', offline: '?', supervisory: '!', disabled: '⊘', maintenance: '⚙', normal: '✓',
};
// the states the tab's count and the "needs someone" list show
const ATTENTION = new Set(['alarm', 'fault', 'offline', 'supervisory', 'disabled', 'maintenance']);
const REFRESH_AFTER_CHANGE_MS = 1500;
// rules whose value says how the watch learnt it ("fault", "last will: offline"), not what
// a carer acts on: their title alone; other values (a panel's point, a pressure) are shown
const MECHANISM_VALUES = new Set(['device_fault', 'device_offline', 'tamper']);

let view = null; // the last GET /api/equipment body
let fireIds = new Set(); // the fire devices' ids, to tell which alert changes matter
let loading = false;
let again = false;
let timer = null;

const iso = (msValue) => (Number.isFinite(msValue) ? new Date(msValue).toISOString() : null);

/** Load the view (the tab count needs it even while another tab shows). */
export async function refreshEquipment() {
  if (loading) { again = true; return; } // a change during a load: load once more after it
  loading = true;
  const res = await getJson('/api/equipment');
  loading = false;
  if (again) { again = false; refreshEquipment(); }
  if (res.ok && res.data && Array.isArray(res.data.floors)) {
    view = res.data;
    view.floors.forEach((f) => (f.devices || []).forEach((d) => { d.floor = f.id; })); // where it is listed
    fireIds = new Set(view.floors.flatMap((f) => (f.devices || []).map((d) => d.id)));
  } else if (!view) {
    view = { error: res.status };
  }
  scheduleRender();
}

/** Reload while the tab shows (a maintenance window raises no alert). */
export function refreshEquipmentIfShown() {
  if (state.view === 'equipment') refreshEquipment();
}

/** An alert changed (the stream): reload soon when it is about a fire device. */
export function noteAlertChange(a) {
  // a fire panel's alerts are its points' (`fp-1/L2-014`): the panel's tile
  if (!a || typeof a.device_id !== 'string' || !fireIds.has(a.device_id.split('/')[0])) return;
  clearTimeout(timer);
  timer = setTimeout(refreshEquipment, REFRESH_AFTER_CHANGE_MS);
}

function stateBadge(s) {
  return h('span', { class: `eq-badge eq-${s}`, data: { state: s } },
    h('span', { class: 'eq-sign', 'aria-hidden': 'true', text: SIGN[s] || '' }),
    ` ${t(`equipment.state.${s}`)}`);
}

function since(d) {
  if (d.since_ms == null) return null;
  const when = iso(d.since_ms);
  return h('span', { class: 'eq-since' },
    t('equipment.since', { time: clockText(when) }), ' (', agoSpan(when, 'ago-inline'), ')');
}

function deviceName(d) {
  return [deviceTypeLabel(d.type), d.label || d.id].filter(Boolean).join(' · ');
}

/** Where an alert stands when not where its device is (a panel's point on 2F). */
function elsewhere(a, d) {
  if (!a.floor || (a.floor === d.floor && (!a.room || a.room === d.room))) return '';
  return ` @ ${[floorLabel(a.floor), roomLabel(a.room, a.floor)].filter(Boolean).join(' · ')}`;
}

function alertsText(d) {
  return (d.alerts || []).map((a) => (a.value && !MECHANISM_VALUES.has(a.rule) ? t('equipment.alert_value', { rule: ruleTitle(a.rule), value: a.value }) : ruleTitle(a.rule)) + elsewhere(a, d))
    .join(t('screen.list_separator'));
}

/** What the state asks of the carer, in plain words. */
function meaning(d) {
  if (d.state === 'maintenance' && d.maintenance_until_ms != null) {
    return t('equipment.means.maintenance', { time: clockText(iso(d.maintenance_until_ms)) });
  }
  return t(`equipment.means.${d.state}`);
}

function attentionRow(d, floorName) {
  return h('li', { class: `eq-row eq-row-${d.state}`, data: { device: d.id, state: d.state } },
    stateBadge(d.state),
    h('span', { class: 'eq-name' }, h('strong', { text: deviceName(d) }),
      d.label ? h('span', { class: 'muted', text: ` (${d.id})` }) : null),
    h('span', { class: 'eq-where', text: [floorName, roomLabel(d.room, d.floor)].filter(Boolean).join(' · ') }),
    since(d),
    h('span', { class: 'eq-means', text: meaning(d) }),
    alertsText(d) ? h('span', { class: 'eq-alerts', text: alertsText(d) }) : null);
}

function tile(d, floorId) {
  return h('div', { class: `eq-tile eq-tile-${d.state}`, data: { device: d.id, state: d.state } },
    stateBadge(d.state),
    h('span', { class: 'eq-tile-name', text: deviceName(d) }),
    h('span', { class: 'eq-tile-room muted', text: roomLabel(d.room, floorId) }),
    d.last_seen_ms == null ? h('span', { class: 'eq-never', text: t('equipment.never_heard') }) : null);
}

function countsBar(counts) {
  return h('div', { class: 'eq-counts', role: 'status' },
    STATES.map((s) => h('span', { class: `eq-count eq-${s}${counts[s] ? '' : ' eq-zero'}`, data: { count: s } },
      h('span', { class: 'eq-sign', 'aria-hidden': 'true', text: SIGN[s] }),
      ` ${t(`equipment.state.${s}`)} `, h('strong', { text: String(counts[s] || 0) }))));
}

function attentionCount() {
  if (!view || !view.counts) return 0;
  return STATES.filter((s) => ATTENTION.has(s)).reduce((n, s) => n + (view.counts[s] || 0), 0);
}

export function renderEquipment() {
  const n = attentionCount();
  $('tab-count-equipment').textContent = n ? `(${n})` : '';
  if (state.view !== 'equipment') return;
  const page = $('equipment-view');
  if (!view) { page.replaceChildren(h('p', { class: 'loading', text: t('equipment.loading') })); return; }
  if (view.error != null) { page.replaceChildren(h('p', { class: 'form-error', text: t('equipment.load_failed') })); return; }
  const floors = view.floors || [];
  const all = floors.flatMap((f) => (f.devices || []).map((d) => ({ d, floor: f })));
  const attention = all.filter((x) => ATTENTION.has(x.d.state)).sort((a, b) =>
    STATES.indexOf(a.d.state) - STATES.indexOf(b.d.state) || (a.d.since_ms || 0) - (b.d.since_ms || 0));
  page.replaceChildren(
    h('h2', { class: 'eq-title', text: t('equipment.title', { n: all.length }) }),
    countsBar(view.counts || {}),
    h('section', { class: 'eq-attention' },
      h('h3', { text: t('equipment.attention') }),
      attention.length
        ? h('ol', { class: 'eq-list' }, attention.map((x) => attentionRow(x.d, x.floor.name)))
        : h('p', { class: 'eq-all-normal', text: t('equipment.all_normal') })),
    ...floors.map((f) => h('section', { class: 'eq-floor', data: { floor: f.id } },
      h('h3', { class: 'eq-floor-name' }, f.name, ' ',
        h('span', { class: 'muted', text: t('equipment.floor_count', { n: (f.devices || []).length }) })),
      h('div', { class: 'eq-grid' }, (f.devices || []).map((d) => tile(d, f.id))))),
    h('p', { class: 'muted eq-legend', text: t('equipment.legend') }));
}
