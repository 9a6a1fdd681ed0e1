// One image in a grid (My uploads, All images): preview, name, size, date, copy, open, delete.
// The card shows the image's small preview, never the full file: the file is loaded only
// when someone opens it.

import { copyButton, pageUrl } from '../clipboard.js';
import { h, icon, previewImage, previewSrc } from '../dom.js';
import { formatBytes, formatDate, formatDimensions } from '../format.js';

/** What people called the file, or the server's name for it. */
export function titleOf(image) {
  return image.original_name || image.name;
}

/**
 * Build the card for `image` (an item of GET /api/images or a stored upload).
 *
 * options.onDelete(card): offered as a Delete button when given
 * options.onThumbnailError(card): the preview did not load, after a few tries (the image
 *   may be gone); an image without a preview shows a placeholder without calling it
 * options.selectable: a checkbox (class card__select) to pick the image for an album
 *
 * Returns {element, showError(message), markGone(onRemove), markUnavailable()}.
 */
export function imageCard(image, { onDelete = null, onThumbnailError = null, selectable = false } = {}) {
  const title = titleOf(image);
  const src = previewSrc(image);
  const frame = h('div', { class: 'card__thumb' });
  const error = h('p', { class: 'card__error', hidden: true });
  const meta = h('p', { class: 'card__meta' },
    [formatBytes(image.size), formatDimensions(image.width, image.height)].filter(Boolean).join(' · '));
  const date = h('p', { class: 'card__meta' }, h('time', { datetime: image.created_at }, formatDate(image.created_at)));
  const actions = h('div', { class: 'card__actions' },
    copyButton({ label: 'Copy link', text: image.url, description: `link to ${title}` }),
    copyButton({ label: 'Page link', text: pageUrl(image), description: `page link to ${title}` }),
    h('a', { class: 'btn btn--small btn--icon', href: image.url, target: '_blank', rel: 'noopener', 'aria-label': `Open ${title}`, title: 'Open in a new tab' },
      icon('external')),
  );
  const element = h('li', { class: 'card', 'data-name': image.name },
    frame,
    h('div', { class: 'card__body' },
      h('p', { class: 'card__name', title }, title),
      meta,
      date,
      error,
      actions,
    ),
  );

  const card = {
    element,
    image,

    showError(message) {
      error.textContent = message;
      error.hidden = false;
    },

    /** The server no longer has it: say so and offer to drop it from the list. */
    markGone(onRemove) {
      element.classList.add('is-gone');
      frame.replaceChildren(h('span', { class: 'card__placeholder' }, icon('gone'), h('span', {}, 'Gone')));
      meta.textContent = 'Deleted from the server';
      actions.replaceChildren(h('button', { type: 'button', class: 'btn btn--small', onclick: onRemove, 'aria-label': `Remove ${title} from the list` }, 'Remove from list'));
    },

    /** There is no preview (the server could not make one, or it would not load). */
    markUnavailable() {
      frame.replaceChildren(h('span', { class: 'card__placeholder' }, icon('image'), h('span', {}, 'No preview')));
    },
  };

  if (onDelete) {
    actions.append(h('button', {
      type: 'button',
      class: 'btn btn--small btn--icon btn--danger-quiet',
      'aria-label': `Delete ${title}`,
      title: 'Delete',
      onclick: () => onDelete(card),
    }, icon('trash')));
  }
  if (selectable) {
    element.prepend(h('label', { class: 'card__pick' },
      h('input', { type: 'checkbox', class: 'card__select', value: image.name }),
      h('span', { class: 'visually-hidden' }, `Select ${title}`)));
  }
  if (src === null) {
    card.markUnavailable();
  } else {
    frame.append(previewImage(src, {
      class: 'card__img',
      alt: title,
      loading: 'lazy',
      decoding: 'async',
      width: image.width || null,
      height: image.height || null,
    }, () => (onThumbnailError ? onThumbnailError(card) : card.markUnavailable())));
  }
  return card;
}

/**
 * Make `list`'s children exactly `elements`, in order, moving as few nodes as possible so a
 * focused element that stays in place keeps focus.
 */
export function syncChildren(list, elements) {
  elements.forEach((element, index) => {
    const current = list.children[index];
    if (current !== element) list.insertBefore(element, current || null);
  });
  while (list.children.length > elements.length) list.lastElementChild.remove();
}
