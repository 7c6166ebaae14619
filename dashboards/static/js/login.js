/* Who is on duty: the staff log-in dialog (name and PIN), the session for the shift, and
 * the action that waits for a log-in (it runs once the log-in succeeds). */
import { t } from './i18n.js';
import { state } from './state.js';
import { $, closeDialog, h, openDialog } from './dom.js';
import { staffName } from './labels.js';
import { lastStaff, loadSession, login, saveSession, sessionExpired } from './api.js';
import { scheduleRender } from './render.js';

let pending = null; // what to do once logged in

export function renderStaff() {
  const s = state.session;
  $('staff-status').textContent = s ? t('screen.login.on_duty', { name: s.name || staffName(s.staff_id) }) : '';
  $('login-open').hidden = !!s;
  $('logout').hidden = !s;
}

function setSession(s) {
  state.session = s;
  saveSession(s);
  renderStaff();
  scheduleRender(); // a supervisor's cards offer the override of a call's bedside reset
}

/** Forget the session (log-out, or the service refused it). */
export function endSession() { setSession(null); }

/** The session if it is still valid; an expired one is dropped. */
export function currentSession() {
  const s = state.session;
  if (s && sessionExpired(s)) { setSession(null); return null; }
  return s;
}

/** The staff list of the site file, the last log-in preselected. */
export function fillStaffSelect() {
  const sel = $('login-staff');
  const staff = (state.meta && Array.isArray(state.meta.staff)) ? state.meta.staff.filter((x) => x && x.id) : [];
  const current = sel.value || lastStaff();
  sel.replaceChildren(
    h('option', { value: '', text: staff.length ? t('screen.login.choose_staff') : t('screen.login.no_staff') }),
    ...staff.map((x) => h('option', { value: x.id, text: x.name || x.id })));
  if (staff.some((x) => x.id === current)) sel.value = current;
}

/** Ask for a log-in, saying why; `then` runs once it succeeds. */
export function openLogin(reason, then = null) {
  pending = then;
  fillStaffSelect();
  $('login-pin').value = '';
  $('login-error').hidden = true;
  $('login-reason').textContent = reason || '';
  $('login-reason').hidden = !reason;
  $('login-submit').disabled = false;
  openDialog($('login-dialog'));
  ($('login-staff').value ? $('login-pin') : $('login-staff')).focus();
}

/** Drop the action waiting for a log-in (dialog cancelled, screen left idle). */
export function cancelLogin() { pending = null; }

function loginError(res) {
  return res.detail || (res.status === 401 ? t('screen.login.wrong_pin')
    : res.status === 429 ? t('screen.login.too_many')
      : res.status === 0 ? t('screen.net_error') : t('screen.login.failed'));
}

async function submitLogin() {
  const staffId = $('login-staff').value;
  const pin = $('login-pin').value;
  const err = $('login-error');
  if (!staffId || !pin) { err.textContent = t('screen.login.pin_required'); err.hidden = false; return; }
  $('login-submit').disabled = true;
  const res = await login(staffId, pin);
  $('login-submit').disabled = false;
  if (res.ok && res.data && res.data.token) {
    setSession({
      token: res.data.token, staff_id: res.data.staff_id || staffId,
      name: res.data.name || staffName(staffId), expires_at: res.data.expires_at || null,
      role: res.data.role || 'carer',
    });
    closeDialog($('login-dialog'));
    const next = pending;
    pending = null;
    if (next) next();
    return;
  }
  $('login-pin').value = '';
  err.textContent = loginError(res);
  err.hidden = false;
  $('login-pin').focus();
}

/** The session kept in this tab survives a reload. */
export function restoreSession() {
  state.session = loadSession();
  renderStaff();
}

export function bindLogin() {
  $('login-open').addEventListener('click', () => openLogin(''));
  $('logout').addEventListener('click', endSession);
  $('login-form').addEventListener('submit', (e) => { e.preventDefault(); submitLogin(); });
  $('login-cancel').addEventListener('click', () => { pending = null; closeDialog($('login-dialog')); });
  $('login-dialog').addEventListener('cancel', cancelLogin);
}
