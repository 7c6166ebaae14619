/* A Server-Sent Events stream that stays open: the browser's EventSource reconnects by
 * itself after a drop (resuming with Last-Event-ID); when it gives up (CLOSED) this opens
 * a new one after RECONNECT_MS. The caller hears `open` / `lost` and its named events.
 * Used by the call-centre console (console.js) and the district page (district-stream.js). */
import { readToken } from './api.js';

const RECONNECT_MS = 3000;

/** `url` with the page's read token as ?access_token= (EventSource sends no headers). */
export function streamUrl(url) {
  const token = readToken();
  if (!token) return url;
  return `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}`;
}

/** Open `url` and keep it open. `handlers`: {onState(state: 'open'|'lost'), events:
 *  {name: fn(data parsed from JSON)}}. Returns {reopen(), close()}. */
export function liveStream(url, handlers) {
  let source = null;
  let timer = null;

  const parse = (text) => { try { return JSON.parse(text); } catch (_e) { return null; } };
  const state = (s) => { if (handlers.onState) handlers.onState(s); };

  function open() {
    clearTimeout(timer);
    if (source) { source.close(); source = null; }
    if (typeof EventSource === 'undefined') return;
    const es = new EventSource(streamUrl(url));
    source = es;
    es.onopen = () => { if (source === es) state('open'); };
    es.onerror = () => {
      if (source !== es) return;
      state('lost');
      if (es.readyState === EventSource.CLOSED) timer = setTimeout(open, RECONNECT_MS);
    };
    for (const [name, fn] of Object.entries(handlers.events || {})) {
      es.addEventListener(name, (e) => {
        if (source !== es) return;
        state('open');
        fn(parse(e.data));
      });
    }
  }

  open();
  return {
    reopen: open,
    close: () => { clearTimeout(timer); if (source) source.close(); source = null; },
  };
}
