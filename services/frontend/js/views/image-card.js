// One image in a grid (My uploads, All images): preview, name, size, date, copy, open, delete.
// The card shows the image's small preview, never the full file: the file is loaded only
// when someone opens it.

import { copyButton, pageUrl } from '../clipboard.js';
import { h, icon, previewImage, previewSrc } from '../dom.js';
import { formatBytes, formatDate, formatDimensions } from '../format.js';
import { tagChips } from './details-fields.js';
import { editDetails } from './edit-details.js';

// Tags shown on a card; the rest are counted, and all of them are in its Edit form.
const CARD_TAGS = 8;

/** Its title, or what people called the file, or the server's name for it. */
export function titleOf(image) {
  return image.title || image.original_name || image.name;
}

/**
 * Build the card for `image` (an item of GET /api/images or a stored upload).
 *
 * options.onDelete(card): offered as a Delete button when given
 * options.onThumbnailError(card): the preview did not load, after a few tries (the image
 *   may be gone); an image without a preview shows a placeholder without calling it
 * options.onTagClick(tag): makes its tags buttons (filter by that tag)
 * options.editToken(): the token that may change it (delete or admin token); with one, an
 *   Edit button opens the form for title, description and tags
 * options.onEdited(image): after a change was saved (the server's answer)
 * options.selectable: a checkbox (class card__select) to pick the image for an album
 *
 * Returns {element, image, update(changed), showError(message), markGone(onRemove), markUnavailable()}.
 */
export function imageCard(image, {
  onDelete = null, onThumbnailError = null, onTagClick = null, editToken = null, onEdited = null, selectable = false,
} = {}) {
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
  const name = h('p', { class: 'card__name', title }, title);
  const tags = h('div', { class: 'card__tags' });
  const heading = h('div', { class: 'card__heading' }, name);
  const body = h('div', { class: 'card__body' },
    heading,
    tags,
    meta,
    date,
    error,
    actions,
  );
  const element = h('li', { class: 'card', 'data-name': image.name }, frame, body);

  function showLabels(shown) {
    name.textContent = titleOf(shown);
    name.title = titleOf(shown);
    tags.replaceChildren(tagChips(shown.tags || [], { onClick: onTagClick, limit: CARD_TAGS }));
  }
  showLabels(image);

  const card = {
    element,
    image,

    /** Show the title, description and tags of `changed` (the server's answer to an edit). */
    update(changed) {
      card.image = { ...card.image, title: changed.title, description: changed.description, tags: changed.tags };
      showLabels(card.image);
    },

    showError(message) {
      error.textContent = message;
      error.hidden = false;
    },

    /** The server no longer has it: say so and offer to drop it from the list. */
    markGone(onRemove) {
      element.classList.add('is-gone');
      heading.querySelector('button')?.remove(); // nothing left to edit
      frame.replaceChildren(h('span', { class: 'card__placeholder' }, icon('gone'), h('span', {}, 'Gone')));
      meta.textContent = 'Deleted from the server';
      // The visible word begins the name, so saying it works (WCAG 2.5.3, Label in Name).
      actions.replaceChildren(h('button', { type: 'button', class: 'btn btn--small', onclick: onRemove, 'aria-label': `Remove ${title} from the list` }, 'Remove'));
    },

    /** There is no preview (the server could not make one, or it would not load). */
    markUnavailable() {
      frame.replaceChildren(h('span', { class: 'card__placeholder' }, icon('image'), h('span', {}, 'No preview')));
    },
  };

  if (editToken && editToken()) {
    const edit = h('button', { type: 'button', class: 'btn btn--small btn--icon btn--quiet', 'aria-label': `Edit ${title}`, title: 'Edit title, description and tags' },
      icon('edit'));
    edit.addEventListener('click', () => editDetails(card, {
      after: tags,
      opener: edit,
      token: editToken(),
      onSaved: (changed) => {
        card.update(changed);
        if (onEdited) onEdited(changed);
      },
    }));
    heading.append(edit);
  }
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
