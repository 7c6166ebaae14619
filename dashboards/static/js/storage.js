/* Browser storage that never throws: a kiosk browser may have storage disabled, and a
 * screen that cannot remember its language must still show alarms. */

/** The stored value of `key`, or null when absent or storage is unavailable. */
export function readStorage(store, key) {
  try { return store.getItem(key); } catch (_e) { return null; }
}

/** Store `value` under `key`; null or undefined removes it. */
export function writeStorage(store, key, value) {
  try {
    if (value == null) store.removeItem(key); else store.setItem(key, value);
  } catch (_e) { /* storage may be disabled; not fatal */ }
}
