/* The hazards tab (隐患整改): the register by state (待整改 open, 整改中 in progress, 待验收
 * fixed, 已销号 closed), each hazard with its place, owner, deadline (overdue marked) and
 * age; the buttons of the steps its state allows (start, fix, close by a second person,
 * reopen when the verification fails, assign owner and deadline); the form that records a
 * hazard (from the screen, or from an alert card's "记为隐患"), with an optional photo.
 * Every step needs a staff session: without one it asks for the log-in and carries on.
 *
 * Stable DOM: #hazards-view, .hazard-row[data-hazard-id][data-state][data-overdue],
 * button[data-hazard-step], button[data-hazard-photos], #hazard-new, #hazard-dialog,
 * #hazard-step-dialog, #hazard-photo-dialog. */
import { t, tOr } from './i18n.js';
import { clockText } from './format.js';
import { state } from './state.js';
import { $, closeDialog, h, openDialog, toast } from './dom.js';
import { alertTitle, floorLabel, metaFloors, roomLabel, staffName } from './labels.js';
import { getJson, postJson, readHeaders, withSite } from './api.js';
import { currentSession, endSession, openLogin } from './login.js';

const STATES = ['open', 'in_progress', 'fixed', 'closed'];
const STEPS = { open: ['start', 'fix', 'assign'], in_progress: ['fix', 'assign'], fixed: ['close', 'reopen', 'assign'], closed: [] };
const CLOSED_SHOWN = 20; // the newest closed ones: the rest are in the report
const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

let hazards = [];
let categories = [];
let formId = null; // the open form's client_id: sent again (a lost answer), one hazard
let stepContext = null;
let formAlert = null;

/** Every hazard not closed (however old), and the newest closed ones. */
export async function refreshHazards() {
  const [live, done] = await Promise.all([
    getJson('/api/hazards?state=open&state=in_progress&state=fixed&limit=5000'),
    getJson(`/api/hazards?state=closed&limit=${CLOSED_SHOWN}`),
  ]);
  if (live.ok && Array.isArray(live.data) && done.ok && Array.isArray(done.data)) {
    hazards = [...live.data, ...done.data];
    renderHazards();
  }
  if (!categories.length) {
    const cats = await getJson('/api/hazards/categories');
    if (cats.ok && Array.isArray(cats.data)) categories = cats.data;
  }
}

const categoryName = (id) => tOr(`hazards.category.${id}`, id);
const person = (id) => (id ? staffName(id) : '');

/** "3天" / "5 h": how long a hazard has been open (until closed). */
function ageText(ms) {
  if (ms >= DAY) return t('hazards.age_days', { d: Math.floor(ms / DAY) });
  return t('hazards.age_hours', { h: Math.max(0, Math.floor(ms / HOUR)) });
}

/** Where: the words given (or made from the site file's floor and room names). */
function place(z) {
  if (z.location) return z.location;
  return [z.floor ? floorLabel(z.floor) : '', z.room ? roomLabel(z.room, z.floor) : ''].filter(Boolean).join(' · ');
}

function stepButton(z, step) {
  const cls = step === 'close' ? 'btn-primary' : step === 'fix' ? 'btn-ack' : 'btn-secondary';
  return h('button', { type: 'button', class: `btn ${cls}`, data: { hazardStep: step, hazardId: z.id }, text: t(`hazards.step.${step}`) });
}

function row(z) {
  const deadline = h('span', { class: z.overdue ? 'hazard-deadline overdue' : 'hazard-deadline', text: clockText(z.deadline_at) });
  return h('tr', { class: `hazard-row${z.overdue ? ' overdue' : ''}`, data: { hazardId: z.id, state: z.state, overdue: z.overdue ? '1' : '0' } },
    h('td', { text: `#${z.id}` }),
    h('td', { text: categoryName(z.category) }),
    h('td', { text: place(z) }),
    h('td', { class: 'hazard-desc' }, z.description, z.photo_count
      ? h('button', { type: 'button', class: 'btn btn-secondary btn-photo', data: { hazardPhotos: z.id }, text: t('hazards.photos', { n: z.photo_count }) })
      : null),
    h('td', { text: person(z.owner) || '—' }),
    h('td', {}, deadline, z.overdue ? h('span', { class: 'badge badge-overdue', text: t('hazards.overdue') }) : null),
    h('td', { text: ageText(z.age_ms) }),
    h('td', { text: z.fixed_by ? person(z.fixed_by) : '' }),
    h('td', {}, h('div', { class: 'actions' }, STEPS[z.state].map((s) => stepButton(z, s)))));
}

function table(rows) {
  const cols = ['id', 'category', 'location', 'description', 'owner', 'deadline', 'age', 'fixed_by', 'actions'];
  return h('table', { class: 'hazard-table' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { text: t(`hazards.col.${c}`) })))),
    h('tbody', {}, rows.map(row)));
}

export function renderHazards() {
  const notClosed = hazards.filter((z) => z.state !== 'closed');
  const overdue = notClosed.filter((z) => z.overdue).length;
  $('tab-count-hazards').textContent = overdue ? `(${overdue}!)` : notClosed.length ? `(${notClosed.length})` : '';
  if (state.view !== 'hazards') return;
  const sections = STATES.map((s) => {
    let rows = hazards.filter((z) => z.state === s);
    if (s === 'closed') rows = rows.slice(0, CLOSED_SHOWN);
    rows.sort((a, b) => (s === 'closed' ? b.closed_ms - a.closed_ms : a.deadline_ms - b.deadline_ms));
    return h('section', { class: `hazard-group hazard-${s}`, data: { group: s } },
      h('h3', { text: `${t(`hazards.state.${s}`)} (${rows.length})` }),
      rows.length ? table(rows) : h('p', { class: 'muted', text: t('hazards.none') }));
  });
  $('hazards-view').replaceChildren(
    h('div', { class: 'hazard-head' },
      h('h2', { text: t('hazards.title') }),
      h('span', { class: 'hazard-summary', text: t('hazards.summary', { open: notClosed.length, overdue }) }),
      h('button', { type: 'button', id: 'hazard-new', class: 'btn btn-primary', text: t('hazards.new') })),
    ...sections);
}

// --- the form ------------------------------------------------------------------------

function fillForm() {
  const cat = $('hazard-category');
  const current = cat.value;
  cat.replaceChildren(...categories.map((c) => h('option', { value: c.id, text: `${categoryName(c.id)} (${t('hazards.fix_within', { h: c.fix_within_h })})` })));
  if (current) cat.value = current;
  const floor = $('hazard-floor');
  floor.replaceChildren(h('option', { value: '', text: '—' }),
    ...metaFloors().map((f) => h('option', { value: f.id, text: f.name || floorLabel(f.id) })));
}

function fillRooms() {
  const f = metaFloors().find((x) => String(x.id) === $('hazard-floor').value);
  $('hazard-room').replaceChildren(h('option', { value: '', text: '—' }),
    ...((f && f.rooms) || []).map((r) => h('option', { value: r.id, text: r.name || roomLabel(r.id, f.id) })));
}

/** The category the service files an alert of `rule` under (GET /api/hazards/categories
 * lists each category's rules); `other` for a rule no category names. */
function categoryOfRule(rule) {
  const c = categories.find((x) => (x.rules || []).includes(rule));
  return c ? c.id : 'other';
}

function setHours() {
  const c = categories.find((x) => x.id === $('hazard-category').value);
  if (c) $('hazard-hours').value = String(c.fix_within_h);
}

/** Open the form; `alert` given: a hazard found from that alert (placed at its device). */
export async function openHazardForm(alert = null) {
  if (!categories.length) await refreshHazards();
  formAlert = alert;
  formId = `hz-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
  fillForm();
  $('hazard-form').reset();
  $('hazard-error').hidden = true;
  const subject = $('hazard-subject');
  subject.hidden = !alert;
  subject.textContent = alert ? `${t('hazards.from_alert')}: ${alertTitle(alert)} #${alert.id}` : '';
  if (alert) {
    $('hazard-category').value = categoryOfRule(alert.rule);
    $('hazard-floor').value = alert.floor || '';
    fillRooms();
    $('hazard-room').value = alert.room || '';
    $('hazard-description').value = alertTitle(alert);
  } else {
    fillRooms();
  }
  setHours();
  openDialog($('hazard-dialog'));
  $('hazard-description').focus();
}

function failed(res) {
  return res.detail || (res.status === 0 ? t('screen.net_error') : `${t('screen.action_failed')} (${res.status})`);
}

async function uploadPhoto(id, file, session) {
  try {
    const resp = await fetch(withSite(`/api/hazards/${id}/photos`), {
      method: 'POST', body: file, headers: { 'Content-Type': file.type || 'application/octet-stream', Authorization: `Bearer ${session.token}` },
    });
    if (resp.ok) return null;
    const data = await resp.json().catch(() => null);
    return (data && data.detail) || `${t('screen.action_failed')} (${resp.status})`;
  } catch (_e) {
    return t('screen.net_error');
  }
}

async function submitForm() {
  const session = currentSession();
  if (!session) { openLogin(t('screen.login.reason'), submitForm); return; }
  const hours = Number($('hazard-hours').value);
  const body = {
    site: (formAlert && formAlert.site) || (state.meta && state.meta.site && state.meta.site.id) || '',
    category: $('hazard-category').value,
    description: $('hazard-description').value.trim(),
    location: $('hazard-location').value.trim() || null,
    floor: $('hazard-floor').value || null,
    room: $('hazard-room').value || null,
    owner: $('hazard-owner').value.trim() || null,
    deadline_ms: Number.isFinite(hours) && hours > 0 ? Date.now() + hours * HOUR : null,
    alert_id: formAlert ? Number(formAlert.id) : null,
    client_id: formId,
  };
  $('hazard-submit').disabled = true;
  const res = await postJson('/api/hazards', body, session);
  $('hazard-submit').disabled = false;
  if (!res.ok) {
    if (res.status === 401) { endSession(); openLogin(t('screen.login.expired'), submitForm); return; }
    $('hazard-error').textContent = failed(res);
    $('hazard-error').hidden = false;
    return;
  }
  const file = $('hazard-photo').files && $('hazard-photo').files[0];
  const photoError = file ? await uploadPhoto(res.data.id, file, session) : null;
  closeDialog($('hazard-dialog'));
  formAlert = null;
  toast(photoError ? `${t('hazards.done.open')} · ${photoError}` : t('hazards.done.open'), photoError ? 'error' : 'ok');
  refreshHazards();
}

// --- the steps -----------------------------------------------------------------------

function openStep(step, id) {
  const z = hazards.find((x) => String(x.id) === String(id));
  if (!z) return;
  stepContext = { step, id };
  $('hazard-step-title').textContent = t(`hazards.step.${step}`);
  $('hazard-step-subject').textContent = `#${z.id} ${categoryName(z.category)} · ${place(z)} · ${z.description}`;
  $('hazard-step-assign').hidden = step !== 'assign';
  $('hazard-step-owner').value = z.owner || '';
  $('hazard-step-hours').value = '';
  $('hazard-step-note').value = '';
  $('hazard-step-hint').textContent = step === 'close' ? t('hazards.close_hint', { name: person(z.fixed_by) }) : '';
  $('hazard-step-submit').textContent = t(`hazards.step.${step}`);
  openDialog($('hazard-step-dialog'));
}

async function submitStep() {
  const ctx = stepContext;
  if (!ctx) return;
  const session = currentSession();
  if (!session) { openLogin(t('screen.login.reason'), submitStep); return; }
  const body = { note: $('hazard-step-note').value.trim() || null };
  if (ctx.step === 'assign') {
    body.owner = $('hazard-step-owner').value.trim() || null;
    const hours = Number($('hazard-step-hours').value);
    if ($('hazard-step-hours').value && Number.isFinite(hours) && hours > 0) body.deadline_ms = Date.now() + hours * HOUR;
  }
  const res = await postJson(`/api/hazards/${ctx.id}/${ctx.step}`, body, session);
  if (!res.ok && res.status === 401) { endSession(); openLogin(t('screen.login.expired'), submitStep); return; }
  stepContext = null;
  closeDialog($('hazard-step-dialog'));
  if (res.ok) toast(t(`hazards.done.${ctx.step}`), 'ok');
  else toast(failed(res));
  refreshHazards();
}

// --- photos ------------------------------------------------------------------------

let photoUrl = null;

/** Show a hazard's newest photo: fetched with the screen's token (an <img> cannot send
 *  one), shown from a blob URL, released when the dialog closes. */
async function showPhotos(id) {
  const res = await getJson(`/api/hazards/${id}`);
  const photos = res.ok && res.data && Array.isArray(res.data.photos) ? res.data.photos : [];
  if (!photos.length) { toast(res.detail || t('screen.net_error')); return; }
  const last = photos[photos.length - 1];
  try {
    const resp = await fetch(withSite(last.url), { headers: readHeaders(), cache: 'no-store' });
    if (!resp.ok) throw new Error(String(resp.status));
    if (photoUrl) URL.revokeObjectURL(photoUrl);
    photoUrl = URL.createObjectURL(await resp.blob());
  } catch (_e) {
    toast(t('screen.net_error'));
    return;
  }
  $('hazard-photo-title').textContent = `#${id} · ${t('hazards.photos', { n: photos.length })}`;
  $('hazard-photo-img').src = photoUrl;
  openDialog($('hazard-photo-dialog'));
}

/** Drop a half-filled form or step (the screen was left idle). */
export function cancelHazard() { stepContext = null; formAlert = null; }

export function bindHazards() {
  $('hazards-view').addEventListener('click', (e) => {
    const target = e.target instanceof Element ? e.target : null;
    if (!target) return;
    const btn = target.closest('button[data-hazard-step]');
    if (btn) { openStep(btn.dataset.hazardStep, btn.dataset.hazardId); return; }
    const pic = target.closest('button[data-hazard-photos]');
    if (pic) { showPhotos(pic.dataset.hazardPhotos); return; }
    if (target.closest('#hazard-new')) openHazardForm(null);
  });
  $('hazard-floor').addEventListener('change', fillRooms);
  $('hazard-category').addEventListener('change', setHours);
  $('hazard-form').addEventListener('submit', (e) => { e.preventDefault(); submitForm(); });
  $('hazard-cancel').addEventListener('click', () => { formAlert = null; closeDialog($('hazard-dialog')); });
  $('hazard-step-form').addEventListener('submit', (e) => { e.preventDefault(); submitStep(); });
  $('hazard-step-cancel').addEventListener('click', () => { stepContext = null; closeDialog($('hazard-step-dialog')); });
  $('hazard-photo-dialog').addEventListener('close', () => {
    $('hazard-photo-img').removeAttribute('src');
    if (photoUrl) { URL.revokeObjectURL(photoUrl); photoUrl = null; }
  });
}
