/* The stream's state in the header (#conn-status) and the red "connection lost" banner
 * (#conn-banner) with how long it has been lost: one drawing for the duty screen, the
 * district page and the call-centre console, so a carer reads the same words on each. */
import { duration, t } from './i18n.js';
import { $ } from './dom.js';

/** conn: 'open' | 'lost' | 'connecting'; lostSince: ms epoch of the loss (or null). */
export function renderConnState(conn, lostSince) {
  const status = $('conn-status');
  status.dataset.conn = conn;
  status.textContent = conn === 'open' ? t('screen.conn.ok')
    : conn === 'lost' ? t('screen.conn.lost') : t('screen.conn.connecting');
  const lost = conn === 'lost';
  $('conn-banner').hidden = !lost;
  if (lost) {
    const secs = Math.max(0, Math.floor((Date.now() - (lostSince || Date.now())) / 1000));
    $('conn-banner-text').textContent = t('screen.conn.banner', { duration: duration(secs) });
  }
}
