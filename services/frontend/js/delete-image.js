// Deleting an image from any list: confirm, remove the item at once, and put it back with
// the server's message if the server refuses.

import { deleteImage } from './api.js';
import { announce } from './announce.js';
import { confirmDelete } from './confirm.js';
import { forgetUpload } from './storage.js';

/** The first control in the item after `item` (or before it), or `fallback`: where focus goes next. */
function nextFocus(item, fallback) {
  const neighbour = item.nextElementSibling || item.previousElementSibling;
  return (neighbour && neighbour.querySelector('button, a[href], input')) || fallback;
}

/**
 * Delete image `name` with `token` after asking. `item` is its element in a list; it is
 * detached at once and re-inserted where it was if the server refuses, after which
 * `showError(message)` is called. A 404 counts as deleted: the image is gone either way.
 * Resolves true when the image is gone.
 */
export async function deleteWithConfirmation({ name, title, token, item, focusAfter, showError }) {
  if (!(await confirmDelete(title))) return false;

  const parent = item.parentNode;
  const next = item.nextSibling;
  const focusTarget = nextFocus(item, focusAfter);
  item.remove();
  if (focusTarget) focusTarget.focus();

  try {
    await deleteImage(name, token);
  } catch (error) {
    if (error.status !== 404) {
      parent.insertBefore(item, next && next.parentNode === parent ? next : null);
      showError(error.message);
      announce(`Could not delete ${title}: ${error.message}`, { urgent: true });
      return false;
    }
  }
  forgetUpload(name);
  announce(`Deleted ${title}.`);
  return true;
}
