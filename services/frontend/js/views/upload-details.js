// "Add details", collapsed under the drop zone: a title, description, tags and expiry for
// all the files chosen next. Closed, nothing changes: files are sent the moment they are
// chosen, with no details. Open, chosen files wait in the list, each with its own "Add
// details" (starting from these), until "Upload" sends them all.

import { h } from '../dom.js';
import { detailsFields } from './details-fields.js';

/**
 * Put the panel after `anchor`. `onSend()` is called when "Upload" is pressed.
 * Returns {isOpen(), fields() (the shared detailsFields), setLimits(limits), setWaiting(count)}.
 */
export function mountUploadDetails(anchor, { onSend }) {
  let limits;
  let shared = detailsFields({ limits: null, label: 'all files' });
  const holder = h('div', { class: 'upload-details__fields' }, shared.element);
  const send = h('button', { type: 'button', class: 'btn btn--primary', hidden: true, onclick: () => onSend() }, 'Upload');
  const panel = h('details', { class: 'upload-details', id: 'upload-details' },
    h('summary', { class: 'upload-details__summary' }, 'Add details'),
    h('p', { class: 'upload-details__hint' },
      'For the files you choose next. While this is open, chosen files wait here so each can get its own details; then press Upload.'),
    holder,
  );
  // Outside the panel, so files left waiting can still be sent after it is closed.
  const actions = h('div', { class: 'upload-details__actions' }, send);
  anchor.after(panel, actions);

  return {
    isOpen: () => panel.open,
    fields: () => shared,
    /** Offer the expiries this server allows (keeps what was typed). */
    setLimits(value) {
      if (value === limits) return;
      limits = value;
      const next = detailsFields({ limits: value, label: 'all files', values: shared.touched() ? shared.snapshot() : {} });
      holder.replaceChildren(next.element);
      shared = next;
    },
    /** Show "Upload N files" while `count` files wait. */
    setWaiting(count) {
      send.hidden = count === 0;
      send.textContent = count === 1 ? 'Upload 1 file' : `Upload ${count} files`;
    },
  };
}
