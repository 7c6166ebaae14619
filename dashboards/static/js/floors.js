/* The floors tab: each floor a grid of rooms coloured by their worst open alert (shape and
 * words too), alerts of a whole floor as chips, and the room dialog with the room's alerts
 * and devices. */
import { lang, t } from './i18n.js';
import { SHAPE, compareAlerts, priorityOf, sortedAlerts, state, worstAlert } from './state.js';
import { $, agoSpan, appendAll, h, openDialog } from './dom.js';
import { alertFloor, alertRoom, alertTitle, floorLabel, isSystem, metaFloors, roomLabel } from './labels.js';
import { syncCards } from './cards.js';
import { deviceRow } from './devices.js';

let builtFor = null; // language + floor count the grid was built for

/** Rebuild the grid on the next pass (new language or new floor plan). */
export function invalidateFloors() { builtFor = null; }

function buildFloors() {
  const view = $('floors-view');
  const floors = metaFloors();
  if (!floors.length) {
    view.replaceChildren(h('p', { class: 'loading', text: t('screen.meta_loading') }));
    builtFor = null;
    return;
  }
  view.replaceChildren(...floors.map((f) => h('section', { class: 'floor', data: { floor: String(f.id) } },
    h('div', { class: 'floor-head' },
      h('h2', { class: 'floor-name' }, floorLabel(f.id),
        f.name && f.name !== String(f.id) ? h('span', { class: 'muted', text: ` ${f.name}` }) : null),
      h('div', { class: 'floor-alerts', data: { floorAlerts: String(f.id) } })),
    h('div', { class: 'room-grid' }, (f.rooms || []).map((r) => h('button', {
      type: 'button', class: 'room-tile', data: { room: String(r.id), floor: String(f.id) },
    }))))));
  builtFor = `${lang()}|${floors.length}`;
}

function roomResidents(roomId) {
  if (!state.devices) return [];
  const names = new Set();
  for (const d of state.devices) if (String(d.room) === String(roomId) && d.resident_name) names.add(d.resident_name);
  return [...names];
}

function updateRoomTile(tile, alerts) {
  const worst = worstAlert(alerts);
  const p = worst ? priorityOf(worst) : 'none';
  const unack = alerts.some((a) => a.state === 'active_unack');
  const residents = roomResidents(tile.dataset.room);
  const sig = `${lang()}|${p}|${unack}|${alerts.length}|${worst ? worst.severity : ''}|${residents.join(',')}`;
  if (tile.dataset.sig === sig) return;
  tile.dataset.sig = sig;
  tile.className = `room-tile worst-${p}${unack ? ' has-unack' : ''}`;
  tile.dataset.worst = p;
  const status = worst
    ? h('span', { class: 'tile-status' },
      h('span', { class: 'shape', 'aria-hidden': 'true', text: SHAPE[p] }),
      ` ${t(`priority.${p}`)} `,
      h('span', { class: 'tile-count', text: t('screen.room.count', { n: alerts.length }) }),
      unack ? h('span', { class: 'tile-unack', text: ` · ${t('state.active_unack')}` }) : null)
    : h('span', { class: 'tile-status ok', text: `✓ ${t('screen.room.normal')}` });
  tile.replaceChildren();
  appendAll(tile, [
    h('span', { class: 'tile-name', text: roomLabel(tile.dataset.room, tile.dataset.floor) }),
    status,
    residents.length ? h('span', { class: 'tile-residents', text: residents.join(' ') }) : null]);
}

function floorChip(floorId, a) {
  const p = priorityOf(a);
  return h('button', {
    type: 'button', class: `floor-chip prio-${p} state-${a.state}`,
    data: { floorChip: floorId, alertRef: String(a.id) },
  },
  h('span', { class: 'shape', 'aria-hidden': 'true', text: SHAPE[p] }),
  ` ${t(`priority.${p}`)} · ${alertTitle(a)} · ${t(`state.${a.state}`)} · `,
  agoSpan(a.raised_at, 'ago-inline'));
}

export function renderFloors() {
  if (state.view !== 'floors') return;
  if (builtFor !== `${lang()}|${metaFloors().length}` || !metaFloors().length) buildFloors();
  if (!metaFloors().length) return;
  const byRoom = new Map();
  const byFloor = new Map();
  const add = (map, key, a) => { if (!map.has(key)) map.set(key, []); map.get(key).push(a); };
  for (const a of state.alerts.values()) {
    if (isSystem(a)) continue;
    const room = alertRoom(a);
    const floor = alertFloor(a);
    if (room) add(byRoom, room, a);
    else if (floor) add(byFloor, floor, a);
  }
  for (const tile of document.querySelectorAll('#floors-view .room-tile')) {
    updateRoomTile(tile, byRoom.get(tile.dataset.room) || []);
  }
  for (const box of document.querySelectorAll('#floors-view [data-floor-alerts]')) {
    const list = (byFloor.get(box.dataset.floorAlerts) || []).sort(compareAlerts);
    box.replaceChildren(...list.map((a) => floorChip(box.dataset.floorAlerts, a)));
  }
}

/** Open the room dialog: a room's alerts and devices, or (room null) a floor's own. */
export function openRoom(roomId, floorId) {
  state.openRoom = { room: roomId, floor: floorId };
  renderRoomDialog();
  openDialog($('room-dialog'));
}

function inSelection(sel) {
  return (a) => !isSystem(a) && (sel.room != null
    ? alertRoom(a) === String(sel.room)
    : !alertRoom(a) && alertFloor(a) === String(sel.floor));
}

export function renderRoomDialog() {
  const sel = state.openRoom;
  if (!sel) return;
  $('room-title').textContent = sel.room != null
    ? [roomLabel(sel.room, sel.floor), floorLabel(sel.floor)].filter(Boolean).join(' · ')
    : `${floorLabel(sel.floor)} · ${t('screen.room.floor_alerts')}`;
  const alerts = sortedAlerts(inSelection(sel));
  syncCards($('room-alerts'), alerts);
  $('room-alerts-empty').hidden = alerts.length > 0;
  const devices = (state.devices || []).filter((d) => (sel.room != null
    ? String(d.room) === String(sel.room)
    : (d.room == null || d.room === '') && String(d.floor) === String(sel.floor)));
  $('room-devices').replaceChildren(...(state.devices
    ? devices.map((d) => deviceRow(d))
    : [h('p', { class: 'muted', text: t('screen.device.loading') })]));
}
