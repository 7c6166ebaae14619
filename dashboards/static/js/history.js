/* A device's history dialog: the last 24 hours of one numeric field as a chart, with a
 * button per field and the latest reading. A newer request supersedes an older one. */
import { t } from './i18n.js';
import { agoText, formatValue, ms } from './format.js';
import { state } from './state.js';
import { $, h, openDialog } from './dom.js';
import { deviceName, deviceWhere, fieldLabel, onlineText } from './labels.js';
import { getJson } from './api.js';
import { drawChart } from './chart.js';

const DAY_MS = 24 * 3600 * 1000;
const PREFERRED = ['heart_rate_bpm', 'pressure_mpa', 'temperature_c', 'cable_temp_c', 'residual_current_ma', 'battery_pct'];
let seq = 0;

function numericFields(type) {
  const dt = state.meta && state.meta.device_types && state.meta.device_types[type];
  if (!dt || !dt.fields) return [];
  return Object.entries(dt.fields)
    .filter(([, spec]) => spec && spec.kind === 'number')
    .map(([name, spec]) => ({ name, unit: spec.unit || '', description: spec.description || name }));
}

function pickDefaultField(fields) {
  for (const p of PREFERRED) if (fields.some((f) => f.name === p)) return p;
  return fields[0].name;
}

/** Open the dialog for a device, on its most telling field. */
export function openHistory(deviceId) {
  const d = state.devicesById.get(deviceId) || { id: deviceId };
  const fields = numericFields(d.type);
  state.historyDevice = { id: deviceId, field: fields.length ? pickDefaultField(fields) : null };
  renderHistory();
  openDialog($('history-view'));
  if (state.historyDevice.field) loadHistory();
}

/** Show another field of the open device. */
export function chooseField(field) {
  if (!state.historyDevice) return;
  state.historyDevice.field = field;
  renderHistory();
  loadHistory();
}

/** The dialog closed: forget the device and drop answers still on their way. */
export function closeHistory() {
  state.historyDevice = null;
  seq += 1;
}

export function renderHistory() {
  const sel = state.historyDevice;
  if (!sel) return;
  const d = state.devicesById.get(sel.id) || { id: sel.id };
  $('history-title').textContent = `${t('screen.history.title')} · ${deviceName(d.id, d.type)}`;
  $('history-sub').textContent = [
    deviceWhere(d), d.resident_name || '', onlineText(d), t('screen.history.range'),
  ].filter(Boolean).join(' · ');
  const fields = numericFields(d.type);
  $('history-fields').replaceChildren(...fields.map((f) => h('button', {
    type: 'button', class: `btn btn-field${f.name === sel.field ? ' selected' : ''}`,
    'aria-pressed': f.name === sel.field ? 'true' : 'false', data: { field: f.name },
  }, `${fieldLabel(f)}${f.unit ? ` (${f.unit})` : ''}`)));
  if (!fields.length) {
    $('history-latest').textContent = '';
    $('history-chart').replaceChildren(h('p', {
      class: 'no-data', text: state.meta ? t('screen.history.no_numeric_fields') : t('screen.meta_loading'),
    }));
  }
}

function chartMessage(cls, text) {
  $('history-chart').replaceChildren(h('p', { class: cls, text }));
}

export async function loadHistory() {
  const sel = state.historyDevice;
  if (!sel || !sel.field) return;
  const mine = ++seq;
  $('history-latest').textContent = '';
  chartMessage('muted', t('screen.history.loading'));
  const since = new Date(Date.now() - DAY_MS).toISOString();
  const url = `/api/devices/${encodeURIComponent(sel.id)}/readings?field=${encodeURIComponent(sel.field)}&since=${encodeURIComponent(since)}`;
  const res = await getJson(url);
  if (mine !== seq) return; // a newer request superseded this one
  if (!res.ok || !res.data) {
    chartMessage('no-data', t('screen.history.load_failed'));
    return;
  }
  const unit = res.data.unit || (numericFields((state.devicesById.get(sel.id) || {}).type)
    .find((f) => f.name === sel.field) || {}).unit || '';
  const points = (Array.isArray(res.data.points) ? res.data.points : [])
    .map((p) => ({ t: ms(p && p.ts), v: p && typeof p.value === 'number' ? p.value : Number(p && p.value) }))
    .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v))
    .sort((a, b) => a.t - b.t);
  if (!points.length) {
    chartMessage('no-data', t('screen.history.no_data'));
    return;
  }
  const last = points[points.length - 1];
  $('history-latest').replaceChildren(t('screen.history.latest', {
    value: formatValue(last.v, unit), ago: agoText(new Date(last.t).toISOString()),
  }));
  $('history-chart').replaceChildren(drawChart(points, unit, Date.now() - DAY_MS, Date.now()));
}
