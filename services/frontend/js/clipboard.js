// Copy buttons: the link to an image in the four forms people paste it in.

import { announce } from './announce.js';
import { h, icon } from './dom.js';

const CONFIRM_MS = 1600;

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function escapeMarkdown(text) {
  return String(text).replace(/[\\[\]]/g, '\\$&');
}

/**
 * The address of an image's page, /i/<name>, on the same host as its file's URL (which
 * follows PUBLIC_BASE_URL): the link to share, where the file's is for embedding.
 */
export function pageUrl(image) {
  const file = `/images/${image.name}`;
  if (typeof image.url === 'string' && image.url.endsWith(file)) return `${image.url.slice(0, -file.length)}/i/${image.name}`;
  return new URL(`/i/${encodeURIComponent(image.name)}`, location.href).href;
}

/**
 * The snippets for an uploaded image: [{label, text}] for its page's link, the file's URL,
 * and Markdown, HTML and BBCode that embed the file.
 */
export function snippets(image) {
  const alt = image.original_name || image.name;
  const size = image.width && image.height ? ` width="${image.width}" height="${image.height}"` : '';
  return [
    { label: 'Page link', text: pageUrl(image) },
    { label: 'URL', text: image.url },
    { label: 'Markdown', text: `![${escapeMarkdown(alt)}](${image.url})` },
    { label: 'HTML', text: `<img src="${escapeHtml(image.url)}" alt="${escapeHtml(alt)}"${size}>` },
    { label: 'BBCode', text: `[img]${image.url}[/img]` },
  ];
}

/**
 * Put `text` on the clipboard; rejects if the browser refuses.
 * navigator.clipboard exists only in secure contexts (HTTPS, localhost), and a self-hosted
 * server is often reached over plain HTTP, hence the execCommand fallback.
 */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      // Permission refused or document not focused: try the old way.
    }
  }
  const focused = document.activeElement;
  const area = h('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true', tabindex: '-1' });
  area.value = text;
  document.body.append(area);
  area.select();
  const copied = document.execCommand('copy');
  area.remove();
  if (focused instanceof HTMLElement) focused.focus();
  if (!copied) throw new Error('The browser did not allow copying.');
}

/**
 * A button that copies `text` and confirms on the button itself ("Copied") and to screen
 * readers. `label` is the visible text; `description` names what is copied, e.g.
 * "Markdown for cat.png", and becomes the accessible name "Copy Markdown for cat.png".
 */
export function copyButton({ label, text, description, className = '' }) {
  const caption = h('span', { class: 'btn__label' }, label);
  const button = h('button', { type: 'button', class: `btn btn--small btn--copy ${className}`, 'aria-label': `Copy ${description}` },
    icon('copy'), icon('check'), caption);
  let timer = 0;
  button.addEventListener('click', async () => {
    clearTimeout(timer);
    try {
      await copyText(text);
      button.classList.remove('is-failed');
      button.classList.add('is-copied');
      caption.textContent = 'Copied';
      announce(`Copied ${description}.`);
    } catch {
      button.classList.add('is-failed');
      caption.textContent = 'Copy failed';
      announce('Could not copy. Select the link and copy it yourself.', { urgent: true });
    }
    timer = setTimeout(() => {
      button.classList.remove('is-copied', 'is-failed');
      caption.textContent = label;
    }, CONFIRM_MS);
  });
  return button;
}
