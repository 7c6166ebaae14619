/* The alarm sound, generated in the page (Web Audio): emergency a fast high two-tone every
 * 2 s, routine a beep every 5 s, trouble a low beep every 15 s, while any alert is
 * unacknowledged; a connection lost for 30 s beeps as trouble. Mute lasts 60 s at most and
 * a new alarm ends it. Browsers only start audio inside a user gesture. */
import { t } from './i18n.js';
import { PRIORITY_RANK, state } from './state.js';
import { $ } from './dom.js';

const LOST_SOUND_AFTER_MS = 30000;
const MUTE_MS = 60000;
const PATTERNS = {
  // fast high two-tone, every 2 s
  emergency: { period: 2, notes: [[880, 0, 0.16], [660, 0.2, 0.16], [880, 0.4, 0.16], [660, 0.6, 0.16]], wave: 'square', gain: 0.22 },
  // one medium beep every 5 s
  routine: { period: 5, notes: [[620, 0, 0.35]], wave: 'sine', gain: 0.35 },
  // short low beep every 15 s
  trouble: { period: 15, notes: [[330, 0, 0.15]], wave: 'triangle', gain: 0.35 },
};
const sound = {
  ctx: null,
  mutedUntil: 0,
  playing: null, // pattern currently scheduled
  nextAt: 0, // AudioContext time of the next pattern start
  scheduled: [], // oscillators not yet finished, so a change can stop them
};

export function audioRunning() { return !!sound.ctx && sound.ctx.state === 'running'; }

export function isMuted() { return Date.now() < sound.mutedUntil; }

/** The pattern the alarm wants to play (independent of mute and of audio being enabled). */
export function soundPattern() {
  let best = null;
  for (const a of state.alerts.values()) {
    if (a.state !== 'active_unack') continue;
    const p = a.priority in PATTERNS ? a.priority : 'trouble';
    if (best === null || PRIORITY_RANK[p] < PRIORITY_RANK[best]) best = p;
  }
  // A screen that cannot hear the server is itself a fault worth a beep.
  if (best === null && state.conn === 'lost' && state.lostSince && Date.now() - state.lostSince > LOST_SOUND_AFTER_MS) {
    best = 'trouble';
  }
  return best;
}

function stopScheduled() {
  for (const osc of sound.scheduled) { try { osc.stop(); } catch (_e) { /* already stopped */ } }
  sound.scheduled = [];
}

function playPatternAt(name, at) {
  const pat = PATTERNS[name];
  const ctx = sound.ctx;
  for (const [freq, offset, dur] of pat.notes) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = pat.wave;
    osc.frequency.value = freq;
    const t0 = at + offset;
    gain.gain.setValueAtTime(0.0001, t0);
    gain.gain.exponentialRampToValueAtTime(pat.gain, t0 + 0.01);
    gain.gain.setValueAtTime(pat.gain, t0 + dur - 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + dur);
    osc.connect(gain).connect(ctx.destination);
    osc.onended = () => { sound.scheduled = sound.scheduled.filter((o) => o !== osc); };
    osc.start(t0);
    osc.stop(t0 + dur + 0.01);
    sound.scheduled.push(osc);
  }
}

/** Keep the right pattern scheduled. Runs every 250 ms and on every change; when the
 *  page is hidden (timers throttled to once a minute) it schedules further ahead. */
export function soundTick() {
  const want = (isMuted() || !audioRunning()) ? null : soundPattern();
  if (want !== sound.playing) {
    stopScheduled();
    sound.playing = want;
    sound.nextAt = audioRunning() ? sound.ctx.currentTime + 0.05 : 0;
  }
  if (!want) return;
  const horizon = document.hidden ? 70 : 1;
  const now = sound.ctx.currentTime;
  if (sound.nextAt < now) sound.nextAt = now + 0.05;
  while (sound.nextAt < now + horizon) {
    playPatternAt(want, sound.nextAt);
    sound.nextAt += PATTERNS[want].period;
  }
}

/** Schedule afresh (the page was hidden or shown: how far ahead to schedule changed). */
export function restartSound() {
  stopScheduled();
  sound.playing = null;
  soundTick();
}

/** The yellow "enable sound" bar and the mute button with its countdown. */
export function renderSoundUi() {
  $('sound-bar').hidden = audioRunning();
  const btn = $('mute');
  const muted = isMuted();
  btn.setAttribute('aria-pressed', muted ? 'true' : 'false');
  btn.classList.toggle('is-muted', muted);
  const left = Math.max(0, Math.ceil((sound.mutedUntil - Date.now()) / 1000));
  btn.textContent = muted ? t('screen.sound.muted', { s: left }) : t('screen.sound.mute');
  btn.title = muted ? t('screen.sound.muted_hint') : '';
}

/** Create/resume the AudioContext, only inside a user gesture: outside one the browser
 *  refuses and logs a warning. */
export function ensureAudio() {
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC || audioRunning()) { renderSoundUi(); return; }
  if (navigator.userActivation && !navigator.userActivation.isActive) return;
  try {
    if (!sound.ctx) {
      sound.ctx = new AC();
      sound.ctx.onstatechange = () => { renderSoundUi(); soundTick(); };
    }
    if (sound.ctx.state === 'suspended') sound.ctx.resume().then(renderSoundUi, () => {});
  } catch (_e) { /* no audio on this machine */ }
  renderSoundUi();
  soundTick();
}

export function toggleMute() {
  ensureAudio();
  sound.mutedUntil = isMuted() ? 0 : Date.now() + MUTE_MS;
  renderSoundUi();
  soundTick();
}

/** A new alarm: sound again at once. */
export function unmute() {
  if (!sound.mutedUntil) return;
  sound.mutedUntil = 0;
  renderSoundUi();
}

/** Once a second: the mute countdown, and its end. */
export function tickMute() {
  if (!sound.mutedUntil) return;
  if (!isMuted()) sound.mutedUntil = 0;
  renderSoundUi();
}
