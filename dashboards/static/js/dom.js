/* DOM helpers: element building, live "time ago" spans, dialogs, the toast, and the
 * texts written into index.html (data-i18n). */
import { htmlLang, nextLanguage, t } from './i18n.js';
import { agoText } from './format.js';

export const $ = (id) => document.getElementById(id);

/** Append children, flattening arrays and skipping null/false. */
export function appendAll(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) appendAll(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** h('div', {class: 'x', data: {a: 1}, text: '...'}, child, ...) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'data') for (const [dk, dv] of Object.entries(v)) { if (dv != null) el.dataset[dk] = dv; }
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  appendAll(el, children);
  return el;
}

/** A "time ago" span that the 1-second ticker keeps current. */
export function agoSpan(iso, cls = 'ago') {
  return h('span', { class: cls, data: { ts: iso || '' }, text: agoText(iso) });
}

/** Bring every "time ago" span up to date (once a second). */
export function refreshAgoSpans() {
  for (const el of document.querySelectorAll('[data-ts]')) {
    const txt = agoText(el.dataset.ts);
    if (el.textContent !== txt) el.textContent = txt;
  }
}

/** The fixed texts of index.html (data-i18n="<catalog key>"), the page's language and the
 *  language toggle, which names the language it switches to. */
export function applyStaticI18n() {
  document.documentElement.lang = htmlLang();
  document.title = t('screen.app_name');
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('.min-label')) {
    el.textContent = t('screen.confirm.minutes', { m: el.dataset.min });
  }
  const next = nextLanguage();
  const toggle = $('lang-toggle');
  toggle.textContent = next.name;
  toggle.setAttribute('lang', next.lang);
}

let toastTimer = null;
/** A short message; a popover so it shows above any open dialog. */
export function toast(message, kind = 'error') {
  const el = $('toast');
  el.textContent = message;
  el.dataset.kind = kind;
  const canPop = typeof el.showPopover === 'function';
  if (canPop) {
    if (el.matches(':popover-open')) el.hidePopover();
    el.showPopover();
  } else {
    el.hidden = false;
  }
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    if (canPop) { if (el.matches(':popover-open')) el.hidePopover(); } else el.hidden = true;
  }, kind === 'error' ? 6000 : 2500);
}

export function openDialog(dlg) {
  if (!dlg.open) {
    try { dlg.showModal(); } catch (_e) { dlg.setAttribute('open', ''); }
  }
}

export function closeDialog(dlg) {
  if (dlg.open) dlg.close();
}
