/* What staff do to an alert: acknowledge, resolve/reset, shelve, unshelve, confirm a fire
 * (forward to the brigade) or dismiss it as false, and a supervisor's override of a call's
 * bedside reset (resolve with `override` and the reason); the confirmation dialog for
 * those that need one; and acknowledging all recovered trouble alerts at once. An action
 * without a valid session asks for a log-in and then carries on. */
import { t } from './i18n.js';
import { state, upsertAlert } from './state.js';
import { $, closeDialog, openDialog, toast } from './dom.js';
import { alertTitle, whereParts } from './labels.js';
import { postJson } from './api.js';
import { scheduleRender } from './render.js';
import { setButtonsBusy } from './cards.js';
import { recoveredTroubleIds } from './alerts.js';
import { currentSession, endSession, openLogin } from './login.js';
import { openHazardForm } from './hazards.js';

const CONFIRMED = new Set(['resolve', 'shelve', 'confirm', 'dismiss', 'override']);
const REASONED = new Set(['dismiss', 'override']); // these need the reason in the note
const REASON_MIN = 4; // an override's reason, as the server asks (dashboards/schemas.py)
let confirmContext = null;

const refused = (res) => res.status === 401 || res.status === 403;
const ROUTE = { override: 'resolve' }; // an override is a resolve with `override: true`
const actionUrl = (alertId, action) => `/api/alerts/${encodeURIComponent(alertId)}/${ROUTE[action] || action}`;

async function performAction(req) {
  const session = currentSession();
  if (!session) {
    openLogin(t('screen.login.reason'), () => performAction(req));
    return;
  }
  setButtonsBusy(req.alertId, true);
  const res = await postJson(actionUrl(req.alertId, req.action), req.body || { note: null }, session);
  setButtonsBusy(req.alertId, false);
  if (res.ok) {
    if (res.data && res.data.id != null) upsertAlert(res.data);
    toast(t(`screen.done.${req.action}`), 'ok');
    scheduleRender();
    return;
  }
  if (refused(res)) {
    endSession();
    const expired = t('screen.login.expired');
    openLogin(res.detail ? `${expired} (${res.detail})` : expired, () => performAction(req));
    return;
  }
  toast(res.detail || (res.status === 0 ? t('screen.net_error') : `${t('screen.action_failed')} (${res.status})`));
}

async function ackMany(ids) {
  const session = currentSession();
  if (!session) {
    openLogin(t('screen.login.reason'), () => ackMany(ids));
    return;
  }
  const btn = $('ack-cleared-all');
  btn.disabled = true;
  let done = 0;
  for (let i = 0; i < ids.length; i += 1) {
    const res = await postJson(actionUrl(ids[i], 'ack'), { note: null }, session);
    if (res.ok) {
      done += 1;
      if (res.data && res.data.id != null) upsertAlert(res.data);
      if (done % 20 === 0) scheduleRender();
    } else if (refused(res)) {
      btn.disabled = false;
      endSession();
      const rest = ids.slice(i);
      openLogin(t('screen.login.expired'), () => ackMany(rest));
      scheduleRender();
      return;
    } else if (res.status === 0) {
      break; // server unreachable: stop, the banner tells why
    }
  }
  btn.disabled = false;
  toast(t('screen.bulk_done', { n: done }), done ? 'ok' : 'error');
  scheduleRender();
}

// the confirmation dialog's title and button for each kind of confirmed action
const CONFIRM = {
  resolve: ['screen.confirm.resolve', 'screen.button.resolve'],
  reset: ['screen.confirm.reset', 'screen.button.reset'], // a latched alarm is reset
  shelve: ['screen.confirm.shelve', 'screen.button.shelve'],
  confirm: ['screen.confirm.fire', 'screen.button.fire'],
  dismiss: ['screen.confirm.dismiss', 'screen.button.dismiss'],
  override: ['screen.confirm.override', 'screen.button.override'],
};

function openConfirm(action, a, alertId) {
  confirmContext = { action, alertId };
  const [title, button] = CONFIRM[action === 'resolve' && a && a.latched ? 'reset' : action];
  $('confirm-title').textContent = t(title);
  $('confirm-subject').textContent = a
    ? [alertTitle(a), ...whereParts(a), a.resident_name || ''].filter(Boolean).join(' · ') : `#${alertId}`;
  $('confirm-minutes').hidden = action !== 'shelve';
  const label = $('confirm-note-label'); // a reason the action needs, or a note it may have
  label.dataset.i18n = REASONED.has(action) ? 'screen.confirm.reason_required' : 'screen.confirm.note_optional';
  label.textContent = t(label.dataset.i18n);
  $('confirm-note').value = '';
  $('confirm-submit').textContent = t(button);
  openDialog($('confirm-dialog'));
  $('confirm-note').focus();
}

function submitConfirm() {
  const ctx = confirmContext;
  const note = $('confirm-note').value.trim() || null;
  if (ctx && ctx.action === 'dismiss' && !note) {
    toast(t('screen.confirm.reason_needed'), 'error');
    $('confirm-note').focus();
    return;
  }
  if (ctx && ctx.action === 'override' && (note || '').length < REASON_MIN) {
    toast(t('screen.confirm.override_reason', { n: REASON_MIN }), 'error');
    $('confirm-note').focus();
    return;
  }
  confirmContext = null;
  closeDialog($('confirm-dialog'));
  if (!ctx) return;
  const body = { note };
  if (ctx.action === 'override') body.override = true;
  if (ctx.action === 'shelve') {
    const checked = document.querySelector('#confirm-minutes input[name="minutes"]:checked');
    body.minutes = Number(checked ? checked.value : 30) || 30;
  }
  performAction({ action: ctx.action, alertId: ctx.alertId, body });
}

/** A card's button was pressed: collect what the action needs, then perform it. */
export function startAction(action, alertId) {
  const a = state.alerts.get(String(alertId));
  if (action === 'hazard') { openHazardForm(a || { id: alertId }); return; } // 记为隐患
  if (CONFIRMED.has(action)) {
    openConfirm(action, a, alertId);
    return;
  }
  performAction({ action, alertId, body: { note: null } });
}

/** Drop a half-filled confirmation (the screen was left idle). */
export function cancelConfirm() { confirmContext = null; }

export function bindActions() {
  $('ack-cleared-all').addEventListener('click', () => {
    const ids = recoveredTroubleIds();
    if (ids.length) ackMany(ids);
  });
  $('confirm-form').addEventListener('submit', (e) => { e.preventDefault(); submitConfirm(); });
  $('confirm-cancel').addEventListener('click', () => { confirmContext = null; closeDialog($('confirm-dialog')); });
}
