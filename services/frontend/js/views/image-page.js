// The image page, /i/<name>: one image as its uploader described it, to share instead of
// the raw file. It is the one place the full file is loaded. Everything a person wrote
// (title, description, tags) is set as text, never as markup.

import { getPublicImage } from '../api.js';
import { pageUrl } from '../clipboard.js';
import { h, icon } from '../dom.js';
import { formatBytes, formatDate, formatDimensions } from '../format.js';
import { linkField } from '../link-field.js';

const byId = (id) => document.getElementById(id);

/** The file's path on this origin (the CSP allows images from 'self' only; url may name another host). */
function filePath(image) {
  return `/images/${encodeURIComponent(image.name)}`;
}

/** The title to show: the uploader's, or a neutral one. */
export function displayTitle(image) {
  return image.title || 'Untitled image';
}

function typeName(mimeType) {
  const subtype = String(mimeType || '').split('/').pop();
  return subtype === 'webp' ? 'WebP' : subtype.toUpperCase();
}

function facts(image) {
  const rows = [
    ['Size', formatBytes(image.size)],
    ['Dimensions', formatDimensions(image.width, image.height)],
    ['Type', typeName(image.type)],
    ['Uploaded', h('time', { datetime: image.created_at }, formatDate(image.created_at))],
  ];
  if (image.expires_at) rows.push(['Expires', h('time', { datetime: image.expires_at }, formatDate(image.expires_at))]);
  return h('dl', { class: 'facts' }, rows.map(([term, value]) => h('div', { class: 'facts__row' }, h('dt', {}, term), h('dd', {}, value))));
}

function tagList(tags) {
  if (!Array.isArray(tags) || tags.length === 0) return null;
  return h('ul', { class: 'tag-list', 'aria-label': 'Tags' }, tags.map((tag) => h('li', { class: 'tag-list__tag' }, String(tag))));
}

function picture(image) {
  const frame = h('figure', { class: 'image-page__figure' });
  const img = h('img', {
    class: 'image-page__img',
    src: filePath(image),
    alt: image.title || 'The image',
    width: image.width || null,
    height: image.height || null,
    decoding: 'async',
  });
  img.addEventListener('error', () => frame.replaceChildren(
    h('span', { class: 'card__placeholder' }, icon('gone'), h('span', {}, 'The file did not load')),
  ), { once: true });
  frame.append(img);
  return frame;
}

/** A page-wide message for an image or album that is not there, with the way back. */
export function goneMessage(text) {
  return h('div', { class: 'empty page-gone' },
    h('p', { class: 'empty__title' }, text.title),
    h('p', { class: 'empty__text' }, text.body),
    h('a', { class: 'btn btn--primary', href: '/#upload' }, 'Upload images'));
}

/** A load that failed for another reason than 404: the server's message and a retry. */
export function failedMessage(error, retry) {
  return h('div', { class: 'empty page-gone', role: 'alert' },
    h('p', { class: 'empty__title' }, 'Could not load this page'),
    h('p', { class: 'empty__text' }, error.message),
    h('button', { type: 'button', class: 'btn', onclick: retry }, 'Try again'));
}

export function mountImagePage() {
  const heading = byId('image-title');
  const body = byId('image-body');
  let shown = null; // the name being shown, so a late answer for another one is dropped

  function render(image) {
    const title = displayTitle(image);
    heading.textContent = title;
    document.title = `${title} · imagehost`;
    const description = image.description ? h('p', { class: 'image-page__description' }, image.description) : null;
    body.replaceChildren(
      h('div', { class: 'image-page' },
        picture(image),
        h('div', { class: 'image-page__about' },
          description,
          tagList(image.tags),
          facts(image),
          h('div', { class: 'image-page__links' },
            linkField({ label: 'Page link', url: pageUrl(image), subject: title }),
            linkField({ label: 'File link', url: image.url, subject: title }),
          ),
          h('a', { class: 'btn btn--small', href: filePath(image), target: '_blank', rel: 'noopener' },
            icon('external'), h('span', {}, 'Open the file')),
        ),
      ),
    );
  }

  async function load(name) {
    shown = name;
    heading.textContent = 'Image';
    body.replaceChildren(h('p', { class: 'page-loading' }, 'Loading…'));
    try {
      const image = await getPublicImage(name);
      if (shown === name) render(image);
    } catch (error) {
      if (shown !== name) return;
      if (error.status === 404) {
        heading.textContent = 'This image is gone';
        document.title = 'Image gone · imagehost';
        body.replaceChildren(goneMessage({
          title: 'No image has this address',
          body: 'It was deleted, it expired, or the link is mistyped.',
        }));
      } else {
        body.replaceChildren(failedMessage(error, () => load(name)));
      }
    }
  }

  return {
    /** Show the image named by route.name. */
    show(route) {
      load(route.name);
    },
  };
}
