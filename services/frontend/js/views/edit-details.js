// The small form a card opens with "Edit": title, description and tags, sent with PATCH
// /api/images/<name>. A value the server refuses keeps the form open with its message under
// the field it names; anything else that goes wrong is shown under the form.

import { updateImage } from '../api.js';
import { announce } from '../announce.js';
import { h } from '../dom.js';
import { detailsFields } from './details-fields.js';
import { titleOf } from './image-card.js';

/**
 * Open the form for `card` ({image, element}) after the element `after`, hiding `opener`
 * (the Edit button) until it closes. `token`: the image's delete token or the admin token.
 * `onSaved(image)` gets the server's answer. Opening it twice does nothing.
 */
export function editDetails(card, { after, opener, token, onSaved }) {
  if (card.element.querySelector('.edit-form')) return;
  const name = titleOf(card.image);
  const fields = detailsFields({ values: card.image });
  const problem = h('p', { class: 'field-error', 'aria-live': 'polite' });
  const save = h('button', { type: 'submit', class: 'btn btn--small btn--primary' }, 'Save');
  const form = h('form', { class: 'edit-form', novalidate: true, 'aria-label': `Details of ${name}` },
    fields.element,
    problem,
    h('div', { class: 'edit-form__actions' },
      save,
      h('button', { type: 'button', class: 'btn btn--small btn--quiet', onclick: () => close() }, 'Cancel')),
  );

  function close() {
    form.remove();
    opener.hidden = false;
    opener.focus();
  }

  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') close();
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    fields.clearErrors();
    problem.textContent = '';
    save.disabled = true;
    try {
      const changed = await updateImage(card.image.name, token, fields.values());
      onSaved(changed);
      announce(`Saved the details of ${titleOf(changed)}.`);
      close();
    } catch (failure) {
      if (failure.status === 400) {
        const field = fields.showError(failure.message);
        form.querySelector(`[aria-invalid="true"]`)?.focus();
        announce(failure.message, { urgent: true });
        if (!field) problem.textContent = failure.message;
      } else {
        problem.textContent = failure.message;
      }
    } finally {
      save.disabled = false;
    }
  });

  after.after(form);
  opener.hidden = true;
  fields.focus();
}
