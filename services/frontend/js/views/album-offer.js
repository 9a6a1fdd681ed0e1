// "Upload as an album": offered in the Upload view when several files are chosen at once.
// Ticked (before or after the uploads finish), it makes an album of the files that were
// uploaded once none is still waiting or uploading, and shows the album's link.

import { createAlbum } from '../api.js';
import { announce } from '../announce.js';
import { h, icon } from '../dom.js';
import { linkField } from '../link-field.js';
import { rememberAlbum, uploadToken } from '../storage.js';

const SETTLED = new Set(['done', 'failed', 'cancelled']);

let offers = 0; // for unique ids

/**
 * The offer for `jobs` (UploadQueue jobs of one choice of files), following `queue`'s
 * "change" events. Returns {element}; the element removes itself when dismissed.
 */
export function albumOffer(queue, jobs) {
  offers += 1;
  const checkId = `album-offer-${offers}`;
  const titleId = `album-offer-title-${offers}`;
  const check = h('input', { type: 'checkbox', id: checkId, class: 'album-offer__check' });
  const title = h('input', { type: 'text', id: titleId, maxlength: '200', autocomplete: 'off' });
  const titleRow = h('div', { class: 'album-offer__title' },
    h('label', { for: titleId }, 'Album title (optional)'), title);
  const status = h('div', { class: 'album-offer__status', 'aria-live': 'polite' });
  const dismiss = h('button', { type: 'button', class: 'btn btn--small btn--icon btn--quiet', 'aria-label': 'Dismiss the album offer', title: 'Dismiss' }, icon('close'));
  const element = h('div', { class: 'album-offer' },
    h('div', { class: 'album-offer__head' },
      h('label', { class: 'album-offer__label', for: checkId }, check, ` Upload these ${jobs.length} files as an album`),
      dismiss),
    titleRow,
    status,
  );
  let state = 'idle'; // idle | making | made

  const settled = () => jobs.every((job) => SETTLED.has(job.state));
  const uploaded = () => jobs.filter((job) => job.state === 'done');

  function waitingText() {
    const left = jobs.filter((job) => !SETTLED.has(job.state)).length;
    return `The album is made when the ${left === 1 ? 'last upload finishes' : `${left} uploads still running finish`}.`;
  }

  async function makeIfReady() {
    if (state !== 'idle') return;
    if (!check.checked) {
      status.replaceChildren();
      return;
    }
    if (!settled()) {
      status.replaceChildren(h('p', {}, waitingText()));
      return;
    }
    const done = uploaded();
    if (done.length === 0) {
      status.replaceChildren(h('p', { class: 'field-error' }, 'None of these files was uploaded, so there is no album to make.'));
      return;
    }
    state = 'making';
    check.disabled = true;
    title.disabled = true;
    status.replaceChildren(h('p', {}, 'Making the album…'));
    try {
      const album = await createAlbum({
        token: uploadToken(),
        title: title.value.trim(),
        images: done.map((job) => ({ name: job.result.name, delete_token: job.result.delete_token })),
      });
      state = 'made';
      const stored = rememberAlbum(album);
      const missed = jobs.length - done.length;
      status.replaceChildren(
        h('p', {}, `Album made of ${done.length} ${done.length === 1 ? 'image' : 'images'}${missed ? ` (${missed} not uploaded)` : ''}.`),
        linkField({ label: 'Album link', url: album.url, subject: album.title || 'the album' }),
      );
      if (!stored) status.append(h('p', { class: 'field-error' }, 'This browser would not remember the album: copy its link now.'));
      announce('Album made.');
    } catch (error) {
      state = 'idle';
      check.disabled = false;
      title.disabled = false;
      status.replaceChildren(
        h('p', { class: 'field-error' }, `The album was not made: ${error.message}`),
        h('button', { type: 'button', class: 'btn btn--small', onclick: makeIfReady }, 'Try again'));
      announce(`The album was not made: ${error.message}`, { urgent: true });
    }
  }

  function onChange({ detail: job }) {
    if (jobs.includes(job)) makeIfReady();
  }

  check.addEventListener('change', makeIfReady);
  queue.addEventListener('change', onChange);
  dismiss.addEventListener('click', () => {
    queue.removeEventListener('change', onChange);
    element.remove();
    document.getElementById('dropzone').focus();
  });
  return { element };
}
