// "My uploads": what this browser uploaded (from localStorage), newest first. An image
// deleted elsewhere shows as gone and can be removed from the list.
//
// Gone is found out two ways: the thumbnail fails to load, or, since nginx lets browsers
// cache images for a year (so a cached thumbnail still shows after a delete), the API is
// asked once per card, with the image's delete token, when the card first scrolls into view.

import { getImage } from '../api.js';
import { announce } from '../announce.js';
import { h } from '../dom.js';
import { deleteWithConfirmation } from '../delete-image.js';
import { forgetUpload, listUploads, updateUploadLabels, uploadsEvents } from '../storage.js';
import { imageCard, syncChildren, titleOf } from './image-card.js';
import { searchBar } from './search-bar.js';

/**
 * Whether `upload` passes `filters` ({q, tags}): every word of q is found (ignoring case) in
 * its title, description, tags or original name, and it has every tag.
 */
export function matches(upload, { q, tags }) {
  const own = upload.tags || [];
  if (!tags.every((tag) => own.includes(tag))) return false;
  const text = [upload.title, upload.description, own.join(' '), upload.original_name]
    .filter(Boolean).join('\n').toLocaleLowerCase();
  return q.toLocaleLowerCase().split(/\s+/).filter(Boolean).every((word) => text.includes(word));
}

const byId = (id) => document.getElementById(id);

function labelsChanged(before, after) {
  const labels = (image) => JSON.stringify([image.title || '', image.description || '', image.tags || []]);
  return labels(before) !== labels(after);
}

export function mountMyUploads() {
  const grid = byId('mine-grid');
  const empty = byId('mine-empty');
  const count = byId('mine-count');
  const clearGone = byId('clear-gone');
  const heading = byId('mine-title');
  const search = searchBar('Search my uploads', () => render(), { landmark: 'My uploads: filters' });
  grid.before(search.element);
  const noMatch = h('p', { class: 'search__none', hidden: true }, 'None of your uploads match.');
  grid.after(noMatch);

  const cards = new Map(); // name → card
  const gone = new Set(); // names the server answered 404 for
  const checked = new Set(); // names asked about since the page loaded
  const waiting = []; // checks not started yet
  let running = 0;

  // Few at a time: scrolling through hundreds of cards must not flood the server.
  const PARALLEL_CHECKS = 4;
  const visibility = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      visibility.unobserve(entry.target);
      const card = cards.get(entry.target.dataset.name);
      if (card) queueCheck(card);
    }
  });

  function render() {
    const uploads = listUploads();
    const names = new Set(uploads.map((upload) => upload.name));
    for (const [name, card] of cards) {
      if (names.has(name)) continue;
      visibility.unobserve(card.element);
      cards.delete(name);
    }
    for (const name of gone) {
      if (!names.has(name)) gone.delete(name);
    }
    const shown = uploads.filter((upload) => matches(upload, search.filters()));
    syncChildren(grid, shown.map((upload) => cardFor(upload).element));

    empty.hidden = uploads.length > 0;
    grid.hidden = shown.length === 0;
    search.element.hidden = uploads.length === 0;
    noMatch.hidden = uploads.length === 0 || shown.length > 0;
    count.textContent = uploads.length === 0
      ? 'Uploads from this browser, newest first.'
      : shown.length < uploads.length
        ? `${shown.length} of ${uploads.length} images uploaded from this browser match.`
        : `${uploads.length} ${uploads.length === 1 ? 'image' : 'images'} uploaded from this browser, newest first.`;
    clearGone.hidden = gone.size === 0;
  }

  function cardFor(upload) {
    let card = cards.get(upload.name);
    if (card && labelsChanged(card.image, upload)) card.update(upload);
    if (!card) {
      card = imageCard(upload, {
        selectable: true,
        onDelete: (self) => deleteWithConfirmation({
          name: upload.name,
          title: titleOf(upload),
          token: upload.delete_token,
          item: self.element,
          focusAfter: heading,
          showError: self.showError,
        }),
        onThumbnailError: (self) => {
          self.markUnavailable();
          queueCheck(self);
        },
        onTagClick: (tag) => search.addTag(tag),
        editToken: () => upload.delete_token,
        onEdited: (changed) => updateUploadLabels(changed),
      });
      cards.set(upload.name, card);
      visibility.observe(card.element);
    }
    return card;
  }

  function queueCheck(card) {
    if (checked.has(card.image.name)) return;
    checked.add(card.image.name);
    waiting.push(card);
    startChecks();
  }

  function startChecks() {
    while (running < PARALLEL_CHECKS && waiting.length > 0) {
      const card = waiting.shift();
      running += 1;
      checkGone(card).finally(() => {
        running -= 1;
        startChecks();
      });
    }
  }

  /**
   * Ask the API about the card's image with its own delete token; mark the card gone on
   * 404, and without a preview when the server could not make one.
   */
  async function checkGone(card) {
    const upload = card.image;
    if (!cards.has(upload.name)) return; // removed from the list meanwhile
    try {
      const current = await getImage(upload.name, upload.delete_token);
      // The stored answer named a preview still to be made; the server has since given up
      // on it: show the placeholder now rather than after every retry (js/dom.js).
      if (current.thumbnail_url === null) card.markUnavailable();
    } catch (error) {
      if (error.status !== 404) return; // unknown: keep showing it as it is
      gone.add(upload.name);
      card.markGone(() => {
        forgetUpload(upload.name);
        announce(`Removed ${titleOf(upload)} from the list.`);
        heading.focus();
      });
      clearGone.hidden = false;
    }
  }

  clearGone.addEventListener('click', () => {
    const removed = gone.size;
    for (const name of [...gone]) forgetUpload(name);
    announce(`Removed ${removed} gone ${removed === 1 ? 'image' : 'images'} from the list.`);
    heading.focus();
  });

  uploadsEvents.addEventListener('change', render);
  render();
}
