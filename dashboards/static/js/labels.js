/* Names of things on the page: alert titles, where (floor, room, bed), devices, staff.
 * Shared vocabulary (rule titles, device types, fields) comes from the catalog's shared
 * namespaces; the site's own names (rooms, staff, residents) from /api/meta and the data. */
import { lang, t, tOr } from './i18n.js';
import { SYSTEM_RULES, state } from './state.js';

const blank = (v) => v == null || v === '';

/** A staff member's name from the site file, else the id. */
export function staffName(id) {
  if (!id) return '';
  const staff = (state.meta && Array.isArray(state.meta.staff)) ? state.meta.staff : [];
  const s = staff.find((x) => x && x.id === id);
  return (s && s.name) || String(id);
}

/** Alerts about the watch itself (broker, store, engine), not about a resident. */
export function isSystem(a) {
  return !!a && ((typeof a.device_id === 'string' && a.device_id.startsWith('system:'))
    || SYSTEM_RULES.has(a.rule));
}

function metaRule(name) {
  return (state.meta && state.meta.rules && state.meta.rules[name]) || {};
}

/** A rule's title: the service's (a home may define its own rules), else the catalog's. */
export function ruleTitle(name) {
  const rule = metaRule(name);
  const own = lang() === 'zh' ? rule.title_zh : lang() === 'en' ? rule.title_en : null;
  return own || tOr(`rule.${name}`, '') || rule.title_zh || name || '';
}

/** An alert's title in the current language: the alert's own, else its rule's. */
export function alertTitle(a) {
  const rule = metaRule(a.rule);
  const own = lang() === 'zh' ? a.title || rule.title_zh : lang() === 'en' ? a.title_en || rule.title_en : null;
  return own || tOr(`rule.${a.rule}`, '') || a.title || a.title_en || a.rule || '?';
}

/** The floors of the site file (from /api/meta), empty until it has loaded. */
export function metaFloors() {
  return (state.meta && Array.isArray(state.meta.floors)) ? state.meta.floors : [];
}

function findRoom(roomId, floorId) {
  for (const f of metaFloors()) {
    if (floorId != null && String(f.id) !== String(floorId)) continue;
    const r = (f.rooms || []).find((x) => x && String(x.id) === String(roomId));
    if (r) return r;
  }
  return null;
}

/** "204房", or a named room's own name ("pump room"). */
export function roomLabel(roomId, floorId) {
  if (blank(roomId)) return '';
  const r = findRoom(roomId, floorId);
  if (r && r.name && !/^\d+$/.test(String(roomId))) return r.name;
  return t('screen.where.room', { room: roomId });
}

/** "2楼" / "Floor 2". */
export function floorLabel(floorId) {
  if (blank(floorId)) return '';
  return t('screen.where.floor', { floor: floorId });
}

/** "2楼 · 204房 · 1床" of a device. */
export function deviceWhere(d) {
  return [floorLabel(d.floor), roomLabel(d.room, d.floor), d.bed ? t('screen.where.bed', { bed: d.bed }) : '']
    .filter(Boolean).join(' · ');
}

/** A device type's name: the catalog's, else the service's, else the type itself. */
export function deviceTypeLabel(type) {
  if (!type) return '';
  const shared = tOr(`device_type.${type}`, '');
  if (shared) return shared;
  const dt = state.meta && state.meta.device_types && state.meta.device_types[type];
  if (!dt) return String(type).replace(/_/g, ' ');
  return (lang() === 'en' ? dt.label_en : dt.label_zh) || dt.label_zh || dt.label_en || type;
}

/** "智能手环 · 204-1床手环": type and label of a device. */
export function deviceName(deviceId, type) {
  const d = state.devicesById.get(deviceId);
  const typeLabel = deviceTypeLabel(type || (d && d.type));
  const label = d && d.label ? d.label : deviceId;
  return [typeLabel, label].filter(Boolean).join(' · ');
}

/** A telemetry field's name: the catalog's, else the device type's description. */
export function fieldLabel(f) {
  return tOr(`field.${f.name}`, '') || f.description || f.name;
}

/** An alert's room, or its device's room when the alert does not say. */
export function alertRoom(a) {
  if (!blank(a.room)) return String(a.room);
  const d = state.devicesById.get(a.device_id);
  return d && !blank(d.room) ? String(d.room) : null;
}

/** An alert's floor, or its device's floor when the alert does not say. */
export function alertFloor(a) {
  if (!blank(a.floor)) return String(a.floor);
  const d = state.devicesById.get(a.device_id);
  return d && !blank(d.floor) ? String(d.floor) : null;
}

/** Where an alert is: floor, room (or the whole floor), bed; the watch system for its own. */
export function whereParts(a) {
  if (isSystem(a)) return [t('screen.where.system')];
  const parts = [];
  const floor = alertFloor(a);
  const room = alertRoom(a);
  if (floor) parts.push(floorLabel(floor));
  if (room) parts.push(roomLabel(room, floor));
  else if (floor) parts.push(t('screen.where.floor_wide'));
  if (a.bed) parts.push(t('screen.where.bed', { bed: a.bed }));
  return parts;
}

/** The condition behind the alert is still there (not recovered). */
export function conditionActive(a) {
  return a.state !== 'cleared_unack' && !a.condition_cleared_at;
}

/** "在线" / "离线" / "从未上报" of a device. */
export function onlineText(d) {
  const key = d.online === true ? 'online' : d.online === false ? 'offline' : 'never';
  return t(`screen.device.${key}`);
}
