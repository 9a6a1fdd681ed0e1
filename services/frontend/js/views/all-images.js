// "All images": every image on the server, paged with the API's cursor ("Load more", and
// automatically when the end of the list scrolls into view). Shown when the gallery is
// public, or once the owner enters the admin token (kept for this tab only).

import { listImages } from '../api.js';
import { announce } from '../announce.js';
import { h } from '../dom.js';
import { deleteWithConfirmation } from '../delete-image.js';
import { adminToken, findUpload, setAdminToken, updateUploadLabels, uploadsEvents } from '../storage.js';
import { imageCard, titleOf } from './image-card.js';
import { searchBar } from './search-bar.js';

const PAGE_SIZE = 24;

const byId = (id) => document.getElementById(id);

/** `onTokenChange(token)`: called with the admin token ('' for none) whenever the list starts over. */
export function mountAllImages({ onTokenChange = () => {} } = {}) {
  const grid = byId('all-grid');
  const empty = byId('all-empty');
  const sub = byId('all-sub');
  const error = byId('all-error');
  const more = byId('load-more');
  const heading = byId('all-title');
  const form = byId('admin-form');
  const tokenInput = byId('admin-token');
  const formError = byId('admin-error');
  const submit = byId('admin-submit');
  const unlock = byId('admin-unlock');
  const forget = byId('admin-forget');

  let limits = null;
  let token = adminToken();
  let cursor = null;
  let exhausted = false;
  let loading = false;
  let locked = false;
  let visible = false;
  let stale = true;
  let generation = 0; // bumped by reset(), so answers to an earlier listing are dropped
  const cards = new Map(); // name → card
  // Filters are the server's to apply; a change starts the listing over with them.
  const search = searchBar('Search all images', () => reset(), { landmark: 'All images: filters' });
  grid.before(search.element);
  const noMatch = h('p', { class: 'search__none', hidden: true }, 'No images on this server match.');
  grid.after(noMatch);

  const isPublic = () => Boolean(limits && limits.gallery_public);

  function setToken(value) {
    token = value;
    setAdminToken(value);
  }

  /** Start the listing over from the first page (or show the token form). */
  function reset() {
    generation += 1;
    stale = false;
    cursor = null;
    exhausted = false;
    loading = false;
    cards.clear();
    grid.replaceChildren();
    empty.hidden = true;
    noMatch.hidden = true;
    error.textContent = '';

    locked = limits !== null && !isPublic() && !token;
    form.hidden = !locked;
    grid.hidden = locked;
    search.element.hidden = locked;
    onTokenChange(token);
    unlock.hidden = !(isPublic() && !token);
    forget.hidden = !token;
    sub.textContent = limits === null
      ? 'Loading…'
      : locked
        ? 'Only the owner of this server can see every image.'
        : search.active()
          ? 'Images on this server that match, newest first.'
          : 'Everything on this server, newest first.';
    updatePager();
    if (limits !== null && !locked && visible) loadNextPage();
    else if (!visible) stale = true;
  }

  async function loadNextPage() {
    if (loading || exhausted) return;
    const mine = generation;
    loading = true;
    error.textContent = '';
    updatePager();
    try {
      const page = await listImages({ limit: PAGE_SIZE, cursor, token, ...search.filters() });
      if (mine !== generation) return;
      showPage(page);
    } catch (failure) {
      if (mine !== generation) return;
      if (failure.status === 401 || failure.status === 403) {
        // The stored token stopped working (changed on the server): ask again.
        setToken('');
        reset();
        form.hidden = false;
        unlock.hidden = true;
        formError.textContent = failure.message;
        return;
      }
      error.textContent = failure.message;
      announce(failure.message, { urgent: true });
    } finally {
      if (mine === generation) {
        loading = false;
        updatePager();
      }
    }
  }

  function showPage(page) {
    const fresh = page.items.filter((item) => !cards.has(item.name));
    grid.append(...fresh.map((item) => cardFor(item).element));
    cursor = page.next_cursor || null;
    exhausted = cursor === null;
    empty.hidden = cards.size > 0 || search.active();
    noMatch.hidden = cards.size > 0 || !search.active();
    grid.hidden = cards.size === 0;
    if (fresh.length > 0 && grid.children.length > fresh.length) {
      announce(`Showing ${grid.children.length} images.`);
    }
  }

  function cardFor(item) {
    // The admin token can delete anything; without it, only this browser's own uploads.
    const deleteToken = () => token || (findUpload(item.name) || {}).delete_token || '';
    const card = imageCard(item, {
      onDelete: deleteToken()
        ? async (self) => {
          const deleted = await deleteWithConfirmation({
            name: item.name,
            title: titleOf(item),
            token: deleteToken(),
            item: self.element,
            focusAfter: heading,
            showError: self.showError,
          });
          if (deleted) dropCard(item.name);
        }
        : null,
      onThumbnailError: (self) => self.markUnavailable(),
      onTagClick: (tag) => search.addTag(tag),
      editToken: deleteToken,
      onEdited: (changed) => updateUploadLabels(changed),
    });
    cards.set(item.name, card);
    return card;
  }

  function updatePager() {
    more.hidden = limits === null || locked || exhausted;
    more.disabled = loading;
    more.textContent = loading ? 'Loading…' : error.textContent ? 'Try again' : 'Load more';
    grid.setAttribute('aria-busy', String(loading));
    // Re-observing makes the observer report again if the button is still in view after a
    // page arrived, so a tall window keeps filling until it scrolls.
    observer.unobserve(more);
    if (!more.hidden && !loading && !error.textContent) observer.observe(more);
  }

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) loadNextPage();
  }, { rootMargin: '0px 0px 600px 0px' });

  more.addEventListener('click', () => loadNextPage());

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const candidate = tokenInput.value.trim();
    if (!candidate) {
      formError.textContent = 'Enter the admin token.';
      tokenInput.focus();
      return;
    }
    submit.disabled = true;
    formError.textContent = '';
    try {
      // Check the token with a real request, so a wrong one shows the server's answer.
      await listImages({ limit: 1, token: candidate });
      setToken(candidate);
      tokenInput.value = '';
      reset();
      announce('Admin token accepted.');
      heading.focus();
    } catch (failure) {
      formError.textContent = failure.message;
      tokenInput.focus();
      tokenInput.select();
    } finally {
      submit.disabled = false;
    }
  });

  unlock.addEventListener('click', () => {
    form.hidden = false;
    unlock.hidden = true;
    tokenInput.focus();
  });

  forget.addEventListener('click', () => {
    setToken('');
    formError.textContent = '';
    reset();
    announce('Admin token forgotten.');
    heading.focus();
  });

  /** Take a deleted image out of the list. */
  function dropCard(name) {
    const card = cards.get(name);
    if (!card) return;
    card.element.remove();
    cards.delete(name);
    empty.hidden = cards.size > 0 || !exhausted;
    grid.hidden = cards.size === 0;
  }

  uploadsEvents.addEventListener('change', ({ detail }) => {
    if (detail.kind === 'removed') {
      dropCard(detail.name);
    } else {
      stale = true; // new uploads: start over the next time this is shown
    }
  });

  reset();

  // The listing is fetched only while the Images view is shown, and started over when it
  // is shown again after new uploads.
  return {
    setLimits(value) {
      limits = value;
      if (visible) reset();
      else stale = true;
    },
    show() {
      visible = true;
      if (stale) reset();
    },
    hide() {
      visible = false;
    },
  };
}
