// The album page, /a/<id>: several images under one link, for anyone who has it. Each
// image shows its small preview (never the full file) and links to its own page.
// Titles and descriptions are set as text, never as markup.

import { getAlbum } from '../api.js';
import { copyButton, pageUrl } from '../clipboard.js';
import { h, icon, previewImage, previewSrc } from '../dom.js';
import { formatDate, formatDimensions } from '../format.js';
import { linkField } from '../link-field.js';
import { displayTitle, failedMessage, goneMessage } from './image-page.js';

const byId = (id) => document.getElementById(id);

function placeholder() {
  return h('span', { class: 'card__placeholder' }, icon('image'), h('span', {}, 'No preview'));
}

function albumImage(image) {
  const title = displayTitle(image);
  const frame = h('div', { class: 'card__thumb' });
  const src = previewSrc(image);
  if (src === null) {
    frame.append(placeholder());
  } else {
    frame.append(previewImage(src, {
      class: 'card__img',
      alt: '',
      loading: 'lazy',
      decoding: 'async',
      width: image.width || null,
      height: image.height || null,
    }, () => frame.replaceChildren(placeholder())));
  }
  return h('li', { class: 'card album-page__image', 'data-name': image.name },
    // The link names the image by its title; the preview inside it is decoration.
    h('a', { class: 'album-page__open', href: `/i/${encodeURIComponent(image.name)}` },
      frame,
      h('span', { class: 'card__name', title }, title)),
    h('div', { class: 'card__body' },
      h('p', { class: 'card__meta' }, formatDimensions(image.width, image.height)),
      h('div', { class: 'card__actions' },
        copyButton({ label: 'Copy link', text: pageUrl(image), description: `link to the page of ${title}` })),
    ),
  );
}

export function mountAlbumPage() {
  const heading = byId('album-title');
  const body = byId('album-body');
  let shown = null;

  function render(album) {
    const title = album.title || 'Album';
    const count = `${album.images.length} ${album.images.length === 1 ? 'image' : 'images'}`;
    heading.textContent = title;
    document.title = `${title} · imagehost`;
    body.replaceChildren(
      h('div', { class: 'album-page__about' },
        album.description ? h('p', { class: 'image-page__description' }, album.description) : null,
        h('p', { class: 'panel__sub' }, `${count} · made `, h('time', { datetime: album.created_at }, formatDate(album.created_at))),
        linkField({ label: 'Album link', url: album.url, subject: title }),
      ),
      album.images.length > 0
        ? h('ul', { class: 'grid album-page__grid', 'aria-label': `Images in ${title}` }, album.images.map(albumImage))
        : h('p', { class: 'empty__text' }, 'This album has no images left.'),
    );
  }

  async function load(id) {
    shown = id;
    heading.textContent = 'Album';
    body.replaceChildren(h('p', { class: 'page-loading' }, 'Loading…'));
    try {
      const album = await getAlbum(id);
      if (shown === id) render(album);
    } catch (error) {
      if (shown !== id) return;
      if (error.status === 404) {
        heading.textContent = 'This album is gone';
        document.title = 'Album gone · imagehost';
        body.replaceChildren(goneMessage({
          title: 'No album has this address',
          body: 'It was deleted, or the link is mistyped.',
        }));
      } else {
        body.replaceChildren(failedMessage(error, () => load(id)));
      }
    }
  }

  return {
    /** Show the album route.id. */
    show(route) {
      load(route.id);
    },
  };
}
