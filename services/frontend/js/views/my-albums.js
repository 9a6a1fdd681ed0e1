// "My albums": the albums made in this browser (kept in localStorage with their album
// tokens), making a new one from the images ticked in My uploads, and deleting one, with or
// without its images.

import { createAlbum, deleteAlbum } from '../api.js';
import { announce } from '../announce.js';
import { h, icon } from '../dom.js';
import { formatDate } from '../format.js';
import { linkField } from '../link-field.js';
import { albumsEvents, findUpload, forgetAlbum, forgetUpload, listAlbums, rememberAlbum, uploadToken } from '../storage.js';

const byId = (id) => document.getElementById(id);

/** How an album is named in lists: its title, or what it holds. */
function albumName(album) {
  if (album.title) return album.title;
  return Number.isInteger(album.count) ? `Album of ${album.count} ${album.count === 1 ? 'image' : 'images'}` : 'Untitled album';
}

/** The album's page on this origin (its url may name the public host). */
function albumPath(album) {
  return `/a/${encodeURIComponent(album.id)}`;
}

/**
 * Ask whether to delete `album`, and whether its images go too. Resolves null for Cancel
 * or Escape, else {withImages}. Focus starts on Cancel and returns where it was.
 */
function confirmAlbumDelete(album) {
  const box = byId('album-delete-dialog');
  const ok = byId('album-delete-ok');
  const cancel = byId('album-delete-cancel');
  const withImages = byId('album-delete-images');
  const opener = document.activeElement;
  byId('album-delete-text').textContent = `“${albumName(album)}” and its link will be removed from the server. Its images stay unless you tick the box; then the images uploaded from this browser are deleted too. This cannot be undone.`;
  withImages.checked = false;
  return new Promise((resolve) => {
    const onOk = () => box.close('delete');
    const onCancel = () => box.close('cancel');
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    box.addEventListener('close', () => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(box.returnValue === 'delete' ? { withImages: withImages.checked } : null);
    }, { once: true });
    box.returnValue = '';
    box.showModal();
    cancel.focus();
  });
}

export function mountMyAlbums() {
  const grid = byId('mine-grid');
  const list = byId('albums-list');
  const make = byId('make-album');
  const made = byId('album-made');
  const heading = byId('albums-title');

  const selected = () => [...grid.querySelectorAll('.card__select:checked')].map((box) => box.value);

  function updateMakeButton() {
    const count = selected().length;
    make.disabled = count === 0;
    make.textContent = count === 0 ? 'Make an album' : `Make an album of ${count}`;
  }

  async function makeAlbum() {
    const names = selected();
    const images = names.map((name) => ({ name, delete_token: findUpload(name)?.delete_token })).filter((image) => image.delete_token);
    make.disabled = true;
    made.hidden = false;
    made.replaceChildren(h('p', {}, 'Making the album…'));
    try {
      const album = await createAlbum({ images, token: uploadToken() });
      const stored = rememberAlbum(album);
      for (const box of grid.querySelectorAll('.card__select:checked')) box.checked = false;
      made.replaceChildren(
        h('p', { class: 'album-made__text' }, `Album made of ${album.images.length} ${album.images.length === 1 ? 'image' : 'images'}.`),
        linkField({ label: 'Album link', url: album.url, subject: 'the new album' }),
      );
      if (!stored) made.append(h('p', { class: 'field-error' }, 'This browser would not remember the album: copy its link now.'));
      announce('Album made.');
    } catch (error) {
      made.replaceChildren(h('p', { class: 'field-error' }, `The album was not made: ${error.message}`));
      announce(`The album was not made: ${error.message}`, { urgent: true });
    }
    updateMakeButton();
  }

  async function remove(album, item) {
    const choice = await confirmAlbumDelete(album);
    if (!choice) return;
    const error = item.querySelector('.card__error');
    error.hidden = true;
    try {
      await deleteAlbum(album.id, album.album_token, choice);
    } catch (failure) {
      if (failure.status !== 404) {
        error.textContent = failure.message;
        error.hidden = false;
        announce(`Could not delete ${albumName(album)}: ${failure.message}`, { urgent: true });
        return;
      }
    }
    if (choice.withImages) for (const name of album.images || []) forgetUpload(name);
    forgetAlbum(album.id);
    announce(`Deleted ${albumName(album)}.`);
    heading.focus();
  }

  function albumItem(album) {
    const name = albumName(album);
    const item = h('li', { class: 'albums__item', 'data-id': album.id },
      h('div', { class: 'albums__head' },
        h('a', { class: 'albums__name', href: albumPath(album) }, name),
        album.created_at ? h('time', { class: 'card__meta', datetime: album.created_at }, formatDate(album.created_at)) : null),
      h('div', { class: 'albums__row' },
        linkField({ label: 'Album link', url: album.url, subject: name }),
        h('button', { type: 'button', class: 'btn btn--small btn--icon btn--danger-quiet', 'aria-label': `Delete album ${name}`, title: 'Delete' }, icon('trash'))),
      h('p', { class: 'card__error', hidden: true }),
    );
    item.querySelector('.btn--danger-quiet').addEventListener('click', () => remove(album, item));
    return item;
  }

  function render() {
    const albums = listAlbums();
    list.replaceChildren(...albums.map(albumItem));
    list.hidden = albums.length === 0;
  }

  grid.addEventListener('change', (event) => {
    if (event.target.classList.contains('card__select')) updateMakeButton();
  });
  // Cards come and go with the list of uploads: keep the count true.
  new MutationObserver(updateMakeButton).observe(grid, { childList: true });
  make.addEventListener('click', makeAlbum);
  albumsEvents.addEventListener('change', render);
  render();
  updateMakeButton();
}
