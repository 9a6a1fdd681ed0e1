// Small DOM helpers. The page is built with these rather than innerHTML, so data never
// becomes markup, and nothing needs an inline style or on* attribute (the CSP forbids both).

/**
 * Create an element. `attributes`: "class" sets className, "on<event>" adds a listener,
 * true sets an empty attribute, null/undefined/false are skipped. Children may be nodes,
 * strings or (nested) arrays of them; null/undefined/false children are skipped.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') element.className = value;
    else if (name.startsWith('on')) element.addEventListener(name.slice(2).toLowerCase(), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// 24×24 stroke icons, drawn for this page.
const ICONS = {
  upload: ['M12 15V4', 'M7.5 8.5L12 4l4.5 4.5', 'M4 15v3a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-3'],
  image: ['M5 4h14a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z', 'M4 17l5-5 4 4', 'M13 15l2.5-2.5L20 17', 'M16.5 8.5a1.5 1.5 0 1 1-3 0a1.5 1.5 0 1 1 3 0'],
  copy: ['M9 9h10a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H9a1 1 0 0 1-1-1V10a1 1 0 0 1 1-1z', 'M5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1'],
  check: ['M5 12.5l4.5 4.5L19 7.5'],
  external: ['M14 4h6v6', 'M20 4l-9 9', 'M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5'],
  trash: ['M4 7h16', 'M10 11v6', 'M14 11v6', 'M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12', 'M9 7V4h6v3'],
  alert: ['M12 9v4', 'M12 16.5v.01', 'M10.3 3.9L2.4 17.5a2 2 0 0 0 1.7 3h15.8a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z'],
  retry: ['M20 12a8 8 0 1 1-2.34-5.66', 'M20 4v5h-5'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  edit: ['M4 20h4L18.5 9.5l-4-4L4 16v4z', 'M13.5 6.5l4 4'],
  gone: ['M5 4h14a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z', 'M9 9l6 6', 'M15 9l-6 6'],
};

/** A decorative icon (hidden from assistive technology; the button or text next to it names it). */
export function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', `icon icon--${name}`);
  for (const d of ICONS[name]) {
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/**
 * Where an image's preview is loaded from, or null when the server could not make one
 * (thumbnail_url null). Always this origin, because the CSP allows images from 'self'
 * only and the public URL may name another host (PUBLIC_BASE_URL): the path of
 * thumbnail_url. Uploads this browser stored before previews existed have no
 * thumbnail_url; theirs is at the same place (services/backend/imagehost/previews.py).
 */
export function previewSrc(image) {
  if (image.thumbnail_url === null) return null;
  if (typeof image.thumbnail_url === 'string') return new URL(image.thumbnail_url, location.href).pathname;
  return `/images/previews/${encodeURIComponent(image.name)}.webp`;
}

// A preview is made a moment after its upload and answers 404 until then: ask again
// after these pauses (ms) before giving up on it. Quickly at first (one preview takes
// a fraction of a second), then every 5 s for half a minute in all: a burst of uploads,
// or a backfill after a restore, can keep the preview makers busy that long.
const PREVIEW_RETRY_DELAYS = [400, 800, 1600, 3200, 5000, 5000, 5000, 5000, 5000];

/**
 * An <img> showing `src` (a preview) that asks again when the preview is not made yet,
 * and calls onGiveUp() once it still will not load. The query string only makes each
 * attempt a new request: nginx serves the same file whatever it says.
 */
export function previewImage(src, attributes, onGiveUp) {
  const image = h('img', { ...attributes, src });
  let attempt = 0;
  image.addEventListener('error', () => {
    if (attempt >= PREVIEW_RETRY_DELAYS.length) {
      onGiveUp();
      return;
    }
    const delay = PREVIEW_RETRY_DELAYS[attempt];
    attempt += 1;
    setTimeout(() => { if (image.isConnected) image.src = `${src}?attempt=${attempt}`; }, delay);
  });
  return image;
}
