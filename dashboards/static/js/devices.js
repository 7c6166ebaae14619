/* The devices tab: devices that need a person (offline, low battery, tampered, faulty,
 * out of service), unregistered devices that keep publishing, and (last) devices never
 * heard from; plus the device rows the room dialog shows, and loading the device list. */
import { t, tOr } from './i18n.js';
import { clockText, formatValue, ms } from './format.js';
import { state } from './state.js';
import { $, agoSpan, h } from './dom.js';
import { conditionActive, deviceTypeLabel, deviceWhere, onlineText } from './labels.js';
import { getJson } from './api.js';
import { scheduleRender } from './render.js';
import { invalidateCards } from './cards.js';
import { openHistory } from './history.js';

const REFRESH_AFTER_CHANGE_MS = 1500;

/** A device as a button (click: its history chart). */
export function deviceRow(d, extra) {
  const key = d.online === true ? 'online' : d.online === false ? 'offline' : 'never';
  return h('button', { type: 'button', class: `device-row dev-${key}`, data: { device: d.id } },
    h('span', { class: 'dev-state' },
      h('span', { class: 'dev-dot', 'aria-hidden': 'true', text: key === 'online' ? '●' : key === 'offline' ? '✕' : '?' }),
      ` ${onlineText(d)}`),
    h('span', { class: 'dev-name' },
      h('strong', { text: deviceTypeLabel(d.type) }), ` ${d.label || d.id}`,
      d.label && d.label !== d.id ? h('span', { class: 'muted', text: ` (${d.id})` }) : null),
    h('span', { class: 'dev-where' }, deviceWhere(d), d.resident_name ? ` · ${d.resident_name}` : ''),
    h('span', { class: 'dev-seen' }, d.last_seen
      ? [t('screen.device.last_seen', { ago: '' }), agoSpan(d.last_seen, 'ago-inline')]
      : t('screen.device.never_seen')),
    d.maintenance_until
      ? h('span', { class: 'dev-maint', text: t('screen.device.maintenance_until', { time: clockText(d.maintenance_until) }) })
      : null,
    extra ? h('span', { class: 'dev-extra', text: extra }) : null,
    h('span', { class: 'dev-history', text: `${t('screen.history.title')} ›` }));
}

/** Devices by what is wrong with them, from the device list and the open device alerts. */
function deviceGroups() {
  const devices = state.devices || [];
  const alertDevices = (rules) => {
    const ids = new Map();
    for (const a of state.alerts.values()) {
      if (rules.has(a.rule) && conditionActive(a) && !ids.has(a.device_id)) ids.set(a.device_id, a);
    }
    return ids;
  };
  const known = (map) => [...map.keys()].map((id) => state.devicesById.get(id)
    || { id, type: map.get(id).device_type, room: map.get(id).room, floor: map.get(id).floor, online: null });
  const offlineAlerts = alertDevices(new Set(['device_offline']));
  const offline = devices.filter((d) => d.online === false);
  for (const d of known(offlineAlerts)) if (!offline.some((x) => x.id === d.id)) offline.push(d);
  const battery = alertDevices(new Set(['battery_low', 'battery_low_reported']));
  return [
    { key: 'offline', items: offline },
    { key: 'battery', items: known(battery), extra: (d) => formatValue(battery.get(d.id) && battery.get(d.id).value, '%') },
    { key: 'tamper', items: known(alertDevices(new Set(['tamper']))) },
    { key: 'fault', items: known(alertDevices(new Set(['device_fault']))) },
    { key: 'maintenance', items: devices.filter((d) => d.maintenance_until) },
    { key: 'never', items: devices.filter((d) => d.online === null || d.online === undefined) },
  ];
}

function problemIds(groups) {
  const ids = new Set();
  for (const g of groups) for (const d of g.items) ids.add(d.id);
  return ids;
}

function unregistered() {
  return Array.isArray(state.unregistered) ? state.unregistered : [];
}

/** The devices tab's count: devices needing attention plus unregistered publishers. */
function setDeviceCount(problems) {
  const n = problems + unregistered().length;
  $('tab-count-devices').textContent = n ? `(${n})` : '';
}

function unregisteredRow(u) {
  const row = u || {};
  const entries = Object.entries(row).filter(([k, v]) => v != null && typeof v !== 'object'
    && !(k.endsWith('_ms') && k.slice(0, -3) in row)); // epoch twins of the RFC 3339 times
  return h('div', { class: 'unreg-row', data: { unregistered: u && u.device_id ? String(u.device_id) : '' } },
    entries.map(([k, v]) => {
      const isTime = /(_seen|_at)$/.test(k) && Number.isFinite(ms(v));
      return h('span', { class: `unreg-field unreg-${k}` },
        h('span', { class: 'muted', text: t('screen.field_label', { name: tOr(`screen.unregistered.${k}`, k) }) }),
        isTime ? [clockText(v), ' (', agoSpan(v, 'ago-inline'), ')'] : String(v));
    }));
}

function groupSection(key, count, body) {
  return h('section', { class: `dev-group group-${key}`, data: { group: key } },
    h('h2', {}, `${t(`screen.groups.${key}`)} `, h('span', { class: 'group-count', text: `(${count})` })),
    count ? h('div', { class: 'device-list' }, body()) : h('p', { class: 'muted', text: t('screen.groups.empty') }));
}

export function renderDevices() {
  if (state.view !== 'devices') {
    if (state.devices) setDeviceCount(problemIds(deviceGroups()).size);
    return;
  }
  const view = $('devices-view');
  if (!state.devices) {
    view.replaceChildren(h('p', { class: 'loading', text: t('screen.device.loading') }));
    return;
  }
  const groups = deviceGroups();
  const problems = problemIds(groups).size;
  setDeviceCount(problems);
  const section = (g) => groupSection(g.key, g.items.length,
    () => g.items.map((d) => deviceRow(d, g.extra ? g.extra(d) : '')));
  const unreg = unregistered();
  // devices never heard from are many after an install and least urgent: last
  view.replaceChildren(
    h('p', { class: 'devices-summary', text: t('screen.device.summary', { total: state.devices.length, problems }) }),
    ...groups.filter((g) => g.key !== 'never').map(section),
    groupSection('unregistered', unreg.length, () => unreg.map(unregisteredRow)),
    ...groups.filter((g) => g.key === 'never').map(section));
}

let loading = false;
let timer = null;

/** Load the device list and the unregistered publishers. */
export async function refreshDevices() {
  if (loading) return;
  loading = true;
  const [devs, unreg] = await Promise.all([getJson('/api/devices'), getJson('/api/devices/unregistered')]);
  loading = false;
  if (devs.ok && Array.isArray(devs.data)) {
    const hadDevices = !!state.devices;
    state.devices = devs.data.filter((d) => d && d.id != null);
    state.devicesById = new Map(state.devices.map((d) => [d.id, d]));
    if (!hadDevices) invalidateCards();
  }
  if (unreg.ok && Array.isArray(unreg.data)) state.unregistered = unreg.data;
  scheduleRender();
  if ($('history-view').open && state.historyDevice && !state.historyDevice.field) {
    openHistory(state.historyDevice.id);
  }
}

/** A device alert changed: reload the list soon (several changes, one load). */
export function scheduleDevicesRefresh() {
  clearTimeout(timer);
  timer = setTimeout(refreshDevices, REFRESH_AFTER_CHANGE_MS);
}
