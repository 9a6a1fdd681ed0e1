// The deletion link, /#/delete/<name>/<token> (an upload's delete_page_url): opened in a
// browser it shows what would be deleted and deletes only when the person confirms, since
// link previewers and prefetchers open links too. The token is in the fragment, so it never
// reaches a server log; it is read once, kept in memory, and taken out of the address bar
// and the history at once.

import { deleteImage, getImage } from './api.js';
import { announce } from './announce.js';
import { h, icon, previewImage, previewSrc } from './dom.js';
import { formatBytes, formatDate, formatDimensions } from './format.js';
import { clearFragment } from './router.js';
import { forgetUpload } from './storage.js';
import { failedMessage } from './views/image-page.js';

const byId = (id) => document.getElementById(id);

function preview(image) {
  const frame = h('div', { class: 'card__thumb delete-link__thumb' });
  const fallback = () => frame.replaceChildren(h('span', { class: 'card__placeholder' }, icon('image'), h('span', {}, 'No preview')));
  const src = previewSrc(image);
  if (src === null) fallback();
  else frame.append(previewImage(src, { class: 'card__img', alt: 'Preview of the image to delete' }, fallback));
  return frame;
}

function describe(image) {
  return [image.title, image.original_name, image.name].find((text) => typeof text === 'string' && text !== '');
}

export function mountDeleteLink() {
  const heading = byId('delete-title');
  const body = byId('delete-body');
  let shown = null;

  function say(title, text, { alert = false } = {}) {
    body.replaceChildren(h('div', { class: 'empty', role: alert ? 'alert' : null },
      h('p', { class: 'empty__title' }, title),
      h('p', { class: 'empty__text' }, text),
      h('a', { class: 'btn', href: '/#upload' }, 'Go to the upload page')));
  }

  function ask(image, token) {
    const name = describe(image);
    const status = h('p', { class: 'field-error', 'aria-live': 'polite' });
    const confirm = h('button', { type: 'button', class: 'btn btn--danger' }, icon('trash'), h('span', {}, 'Delete this image'));
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      status.textContent = '';
      try {
        await deleteImage(image.name, token);
      } catch (error) {
        if (error.status !== 404) {
          confirm.disabled = false;
          status.textContent = error.message;
          announce(`Could not delete it: ${error.message}`, { urgent: true });
          return;
        }
      }
      forgetUpload(image.name);
      heading.textContent = 'Image deleted';
      say('Deleted', `“${name}” is gone from the server; its links no longer work.`);
      announce('Deleted the image.');
      heading.focus();
    });
    body.replaceChildren(h('div', { class: 'delete-link' },
      preview(image),
      h('div', { class: 'delete-link__about' },
        h('p', { class: 'delete-link__name' }, name),
        h('p', { class: 'card__meta' },
          [formatBytes(image.size), formatDimensions(image.width, image.height), formatDate(image.created_at)].filter(Boolean).join(' · ')),
        h('p', {}, 'This removes the image from the server: its links stop working. This cannot be undone.'),
        status,
        h('div', { class: 'dialog__actions delete-link__actions' },
          h('a', { class: 'btn', href: '/#upload' }, 'Keep it'),
          confirm),
      ),
    ));
  }

  async function load({ name, token }) {
    shown = name;
    heading.textContent = 'Delete an image?';
    body.replaceChildren(h('p', { class: 'page-loading' }, 'Loading…'));
    try {
      const image = await getImage(name, token);
      if (shown === name) ask(image, token);
    } catch (error) {
      if (shown !== name) return;
      if (error.status === 404) {
        heading.textContent = 'Already gone';
        say('Nothing to delete', 'This image is no longer on the server: it was deleted or it expired.');
      } else if (error.status === 401 || error.status === 403) {
        heading.textContent = 'This deletion link does not work';
        say('The link does not match the image', 'Its token is not this image\'s delete token. Check that the link was copied whole.', { alert: true });
      } else {
        body.replaceChildren(failedMessage(error, () => load({ name, token })));
      }
    }
  }

  return {
    /** Show the confirmation for route {name, token}; nothing is deleted until it is confirmed. */
    show(route) {
      clearFragment();
      load(route);
    },
  };
}
