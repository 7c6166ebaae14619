/* CareWatch duty-room screen: the entry module (index.html loads it with
 * <script type="module">). Plain ES2020 modules, no framework, no build step; texts come
 * from the catalog (i18n.js). It wires the parts together: one render pass in page order,
 * the tabs, the language, the page-wide click handling, the timers, the idle return.
 *
 * Modules: i18n (texts) · storage · api (fetch, tokens, site, session) · sites (which
 * site: ?site=, or a chooser for a caller of several) · format · state (state
 * and alert order) · labels (names of things) · dom · render (batched redraw) · cards ·
 * alerts · floors (with the room dialog) · devices · equipment (fire equipment) · history + chart · notifications ·
 * hazards (the register's tab and form) ·
 * login · actions · sound · stream (SSE, /readyz) · banners · handover (its own entry).
 *
 * Test hooks: window.carewatch = {state, alerts(), soundPattern(), muted(), audioRunning(),
 * showView(v), setLang(l)}. soundPattern() is what the alarm wants to play from the open
 * alerts ('emergency'|'routine'|'trouble'|null), whether or not audio is enabled or muted.
 * Stable DOM: .alert-card[data-alert-id][data-state], button[data-action] (a supervisor's
 * override: data-action="override"), [data-reset="bedside"] (a call's card), #conn-banner,
 * #system-banner, .tab[data-view], #lang-toggle, #login-dialog, #confirm-submit,
 * #sound-enable, #mute, .room-tile[data-room], #alerts-view, #floors-view, #devices-view, #equipment-view,
 * #history-view, #replay-notice, #site-chooser a[data-site].
 */
import { nextLanguage, readyOrStart, setLanguage, t } from './i18n.js';
import { compareAlerts, sortedAlerts, state } from './state.js';
import { $, applyStaticI18n, closeDialog, refreshAgoSpans } from './dom.js';
import { setZone } from './format.js';
import { getJson, readToken, saveReadToken } from './api.js';
import { onRender, renderAll } from './render.js';
import { invalidateCards } from './cards.js';
import { renderAlertsView, renderRecent } from './alerts.js';
import { invalidateFloors, openRoom, renderFloors, renderRoomDialog } from './floors.js';
import { refreshDevices, renderDevices } from './devices.js';
import { refreshEquipment, refreshEquipmentIfShown, renderEquipment } from './equipment.js';
import { chooseField, closeHistory, loadHistory, openHistory, renderHistory } from './history.js';
import { refreshNotifications, renderNotifications } from './notifications.js';
import { refreshRounds, renderRounds } from './rounds.js';
import { bindLogin, cancelLogin, currentSession, fillStaffSelect, renderStaff, restoreSession } from './login.js';
import { bindActions, cancelConfirm, startAction } from './actions.js';
import {
  audioRunning, ensureAudio, isMuted, renderSoundUi, restartSound, soundPattern, soundTick, tickMute, toggleMute,
} from './sound.js';
import { connect, pollReady } from './stream.js';
import { renderClock, renderConn, renderSite, renderSystemBanner } from './banners.js';
import { siteReady } from './sites.js';
import { bindHazards, cancelHazard, refreshHazards, renderHazards } from './hazards.js';

const VIEWS = ['alerts', 'floors', 'devices', 'equipment', 'notifications', 'rounds', 'hazards'];
const DIALOGS = ['history-view', 'room-dialog', 'confirm-dialog', 'login-dialog', 'hazard-dialog', 'hazard-step-dialog', 'hazard-photo-dialog'];
const IDLE_RESET_MS = 3 * 60 * 1000; // unattended screen goes back to the alert list
const CATALOG_WAIT_MS = 5000; // then start anyway: alarms with raw keys beat no alarms
const META_RETRY_MS = 10000;

// one render pass, in page order; each part skips itself when hidden
onRender(renderAlertsView);
onRender(renderRecent);
onRender(renderSystemBanner);
onRender(renderFloors);
onRender(renderNotifications);
onRender(renderRounds);
onRender(renderDevices);
onRender(renderEquipment);
onRender(renderHazards);
onRender(() => { if ($('room-dialog').open) renderRoomDialog(); });

function showView(view) {
  const v = VIEWS.includes(view) ? view : 'alerts';
  state.view = v;
  for (const tab of document.querySelectorAll('.tab[data-view]')) {
    tab.setAttribute('aria-selected', tab.dataset.view === v ? 'true' : 'false');
  }
  for (const page of document.querySelectorAll('.view[data-page]')) page.hidden = page.dataset.page !== v;
  if (v === 'devices') refreshDevices();
  if (v === 'equipment') refreshEquipment();
  if (v === 'notifications') refreshNotifications();
  if (v === 'hazards') refreshHazards();
  if (v === 'rounds') refreshRounds();
  renderAll();
}

/** Every text on the page again, in the language just loaded. */
function relabel() {
  applyStaticI18n();
  renderStaff();
  renderSoundUi();
  renderConn();
  renderClock();
  fillStaffSelect();
  invalidateFloors();
  renderAll();
  if ($('history-view').open) { renderHistory(); loadHistory(); }
}

/** Switch the language (the 'carewatch:lang' event relabels every part of the page). */
function setLang(next) { return setLanguage(next); }

async function loadMeta() {
  const res = await getJson('/api/meta');
  if (res.ok && res.data && typeof res.data === 'object') {
    state.meta = res.data;
    if (res.data.site && res.data.site.timezone) setZone(res.data.site.timezone);
    renderClock(); // in the site's zone now, not the browser's until the next tick
    renderSite();
    fillStaffSelect();
    invalidateFloors();
    invalidateCards(); // names of rules, rooms and staff are known now
    renderAll();
    return;
  }
  if (res.status === 401) {
    // reads need a token here: ask once; the home's IT gives each screen a viewer token
    const given = window.prompt(t('screen.need_read_token'));
    if (given) { saveReadToken(given.trim()); location.reload(); return; }
  }
  setTimeout(loadMeta, META_RETRY_MS); // retry until the server answers
}

let lastInteraction = Date.now();

/** Nobody has touched the screen for a while: close dialogs, show the alert list, so a
 *  room or chart left open at 3 a.m. never hides a new alarm. */
function idleReturn() {
  if (Date.now() - lastInteraction < IDLE_RESET_MS) return;
  lastInteraction = Date.now();
  cancelLogin();
  cancelConfirm();
  cancelHazard();
  for (const id of DIALOGS) closeDialog($(id));
  if (state.view !== 'alerts') showView('alerts');
}

/** Page-wide clicks: card buttons, tabs, rooms, floor chips, devices, chart fields. */
function onClick(e) {
  const target = e.target instanceof Element ? e.target : null;
  if (!target) return;
  const actionBtn = target.closest('button[data-action]');
  if (actionBtn) {
    const card = actionBtn.closest('[data-alert-id]');
    if (card) startAction(actionBtn.dataset.action, card.dataset.alertId);
    return;
  }
  const tab = target.closest('.tab[data-view]');
  if (tab) { showView(tab.dataset.view); return; }
  const tile = target.closest('.room-tile[data-room]');
  if (tile) { openRoom(tile.dataset.room, tile.dataset.floor); return; }
  const chip = target.closest('[data-floor-chip]');
  if (chip) { openRoom(null, chip.dataset.floorChip); return; }
  const dev = target.closest('.device-row[data-device]');
  if (dev) { openHistory(dev.dataset.device); return; }
  const field = target.closest('#history-fields button[data-field]');
  if (field) { chooseField(field.dataset.field); return; }
  const closer = target.closest('[data-close]');
  if (closer) closeDialog($(closer.dataset.close));
}

function bindEvents() {
  // Any click or key press may start audio. Not on pointerdown: hiding the sound bar
  // between press and release would move the button under the pointer.
  for (const type of ['click', 'keydown']) {
    document.addEventListener(type, ensureAudio, { capture: true, passive: true });
  }
  $('sound-enable').addEventListener('click', ensureAudio);
  for (const type of ['pointerdown', 'keydown', 'wheel']) {
    document.addEventListener(type, () => { lastInteraction = Date.now(); }, { capture: true, passive: true });
  }
  $('mute').addEventListener('click', toggleMute);
  $('lang-toggle').addEventListener('click', () => setLang(nextLanguage().code));
  bindLogin();
  bindActions();
  bindHazards();
  $('room-dialog').addEventListener('close', () => {
    state.openRoom = null;
    $('room-alerts').replaceChildren(); // no duplicate cards left behind
    $('room-devices').replaceChildren();
  });
  $('history-view').addEventListener('close', closeHistory);
  document.addEventListener('click', onClick);
  document.addEventListener('visibilitychange', restartSound);
}

function everySecond() {
  idleReturn();
  renderClock();
  refreshAgoSpans();
  if (state.conn === 'lost') renderConn();
  tickMute();
  soundTick();
}

async function start() {
  readToken(); // a ?token= leaves the address bar at once, before anything waits
  await readyOrStart(CATALOG_WAIT_MS, relabel);
  document.addEventListener('carewatch:lang', relabel);
  restoreSession();
  applyStaticI18n();
  renderSoundUi();
  renderConn();
  renderClock();
  bindEvents();
  renderAll();
  if (!(await siteReady())) return; // a caller of several sites picks one first
  connect();
  loadMeta();
  refreshDevices();
  pollReady();
  setInterval(everySecond, 1000);
  setInterval(soundTick, 250);
  setInterval(refreshDevices, 15000);
  refreshEquipment();
  setInterval(refreshEquipmentIfShown, 15000);
  setInterval(pollReady, 10000);
  setInterval(refreshNotifications, 10000);
  refreshNotifications();
  setInterval(refreshHazards, 30000);
  refreshHazards();
  setInterval(refreshRounds, 30000); // a round's checkpoints come in over minutes
  refreshRounds();
  setInterval(() => { if (state.session) currentSession(); }, 30000);
}

window.carewatch = {
  state,
  alerts: () => sortedAlerts(),
  soundPattern,
  muted: isMuted,
  audioRunning,
  showView,
  setLang,
  compareAlerts,
};

start();
