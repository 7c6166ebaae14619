/* Which site this screen shows. A service may watch several sites: the page takes
 * ?site=<id> (kept in the address, sent with every API call and the stream, api.js).
 * Without it, a caller of one site gets that site (the service picks it); a caller of
 * several (a district office, a call centre) first picks one of them here: a small
 * chooser of links to ?site=<id>, nothing else loads until then.
 * Stable DOM: #site-chooser a[data-site]. */
import { t } from './i18n.js';
import { getJson, siteId } from './api.js';
import { h } from './dom.js';

let decided = null;

function showChooser(sites) {
  const base = new URLSearchParams(location.search);
  const link = (s) => {
    base.set('site', s.id);
    return h('a', {
      href: `${location.pathname}?${base}`,
      data: { site: s.id },
      style: 'display:block;padding:.8em 1.2em;margin:.4em 0;font-size:1.4em;border:1px solid;border-radius:.4em;text-decoration:none',
      text: s.name || s.id,
    });
  };
  const nav = h('nav', {
    id: 'site-chooser',
    'aria-label': t('screen.sites.choose'),
    style: 'position:fixed;inset:0;z-index:100;overflow:auto;padding:3em;background:Canvas;color:CanvasText',
  }, h('h2', { text: t('screen.sites.choose') }), sites.map(link));
  document.body.append(nav);
}

/** Resolves true once the screen knows its site (given, or the caller's only one), false
 *  when the caller has several and the chooser is shown instead. Asked once per page. */
export function siteReady() {
  if (decided) return decided;
  decided = (async () => {
    if (siteId()) return true;
    const res = await getJson('/api/sites');
    // one site, or no answer yet (no token: the screen asks for one when it loads)
    if (!res.ok || !Array.isArray(res.data) || res.data.length <= 1) return true;
    showChooser(res.data.filter((s) => s && s.id));
    return false;
  })();
  return decided;
}
