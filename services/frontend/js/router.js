// Which view is shown follows the address, so Back, Forward and reload keep the view:
// #upload or #images on the page itself; the shareable pages /i/<name> (one image) and
// /a/<id> (an album), which nginx serves with the same page; and the deletion link
// /#/delete/<name>/<token>, whose token stays in the fragment so it never reaches a server.

const VIEWS = ['upload', 'images'];
const DEFAULT_VIEW = 'upload';

// The path's own form (nginx serves only these), the name or id decoded.
const PAGE_PATHS = [
  { view: 'image', pattern: /^\/i\/([A-Za-z0-9_-]{12,128}\.(?:jpg|png|gif|webp|avif))$/, key: 'name' },
  { view: 'album', pattern: /^\/a\/([A-Za-z0-9_-]{16})$/, key: 'id' },
];
const DELETE_HASH = /^#\/delete\/([^/]+)\/([^/]+)$/;

function decoded(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/**
 * Where the address points: {view} with view "upload" or "images"; {view: "image", name};
 * {view: "album", id}; {view: "delete", name, token}. A view's hash (#upload) wins over
 * the path, so the tabs work on /i/ and /a/ pages too; anything unknown is the default view.
 */
export function currentRoute() {
  const hash = location.hash.replace(/^#/, '');
  if (VIEWS.includes(hash)) return { view: hash };
  const deletion = DELETE_HASH.exec(location.hash);
  if (deletion) return { view: 'delete', name: decoded(deletion[1]), token: decoded(deletion[2]) };
  for (const { view, pattern, key } of PAGE_PATHS) {
    const match = pattern.exec(location.pathname);
    if (match) return { view, [key]: match[1] };
  }
  return { view: DEFAULT_VIEW };
}

/** The view named by the address (see currentRoute). */
export function currentView() {
  return currentRoute().view;
}

let showRoute = () => {};
let shownKey = null;

function routeKey(route) {
  return JSON.stringify(route);
}

function showCurrent(initial) {
  const route = currentRoute();
  const key = routeKey(route);
  if (!initial && key === shownKey) return; // popstate and hashchange both fire for one change
  shownKey = key;
  showRoute(route.view, { initial, route });
}

/**
 * Go to view `name` ("upload" or "images"), adding a history entry. On the page's own
 * address that is a hash change; on /i/ or /a/ the address becomes /#<name>.
 */
export function goTo(name) {
  if (location.pathname === '/') {
    if (location.hash !== `#${name}`) location.hash = name;
    return;
  }
  history.pushState(null, '', `/#${name}`);
  showCurrent(false);
}

/**
 * Forget the address's fragment without a new history entry or a reload (the deletion
 * link's token must not stay in the address bar or the history). The view stays.
 */
export function clearFragment() {
  history.replaceState(null, '', location.pathname + location.search);
}

/** Call `show(view, {initial, route})` now and on every change of address. */
export function onViewChange(show) {
  showRoute = show;
  // A fragment change fires popstate at once and hashchange a moment later; by then the
  // view may have changed the address (clearFragment), and the stale event is dropped.
  window.addEventListener('popstate', () => showCurrent(false));
  window.addEventListener('hashchange', (event) => {
    if (event.newURL === location.href) showCurrent(false);
  });
  showCurrent(true);
}
