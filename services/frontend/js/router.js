// Which view is shown follows the address: #upload or #images, so Back, Forward and reload
// keep the view. Switching is a hash change; nothing reloads.

const VIEWS = ['upload', 'images'];
const DEFAULT_VIEW = 'upload';

/** The view named by the address, or the default for an empty or unknown hash. */
export function currentView() {
  const name = location.hash.replace(/^#/, '');
  return VIEWS.includes(name) ? name : DEFAULT_VIEW;
}

/** Go to view `name` (adds a history entry, then "hashchange" shows it). */
export function goTo(name) {
  if (currentView() !== name || location.hash !== `#${name}`) location.hash = name;
}

/** Call `show(name, {initial})` now and on every change of address. */
export function onViewChange(show) {
  window.addEventListener('hashchange', () => show(currentView(), { initial: false }));
  show(currentView(), { initial: true });
}
