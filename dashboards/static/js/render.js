/* One render pass for the whole page, batched: any number of changes in one task cause
 * one pass. Each part of the page registers its renderer (main.js, in page order), so the
 * parts that ask for a render need not know who draws. */
const renderers = [];
let pending = false;

/** Add a renderer to every pass (it decides itself whether its part is visible). */
export function onRender(fn) { renderers.push(fn); }

/** Draw every part now. */
export function renderAll() {
  for (const fn of renderers) fn();
}

/** Draw every part once, after the current task. */
export function scheduleRender() {
  if (pending) return;
  pending = true;
  setTimeout(() => { pending = false; renderAll(); }, 0);
}
