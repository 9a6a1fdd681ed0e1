// What the browser remembers. Uploads (with their delete tokens) go to localStorage so the
// person can find and delete them later; tokens typed in go to sessionStorage and die with
// the tab. Storage can be disabled or full: reads then return nothing and writes report
// failure instead of throwing.

const UPLOADS_KEY = 'imagehost.uploads.v1';
const ADMIN_TOKEN_KEY = 'imagehost.admin-token';
const UPLOAD_TOKEN_KEY = 'imagehost.upload-token';

// The fields of the upload response worth keeping (delete_url is derived from name).
const UPLOAD_FIELDS = ['name', 'url', 'thumbnail_url', 'delete_token', 'size', 'width', 'height', 'created_at', 'original_name', 'type',
  'title', 'description', 'tags', 'expires_at'];
// What PATCH /api/images/<name> can change.
const LABEL_FIELDS = ['title', 'description', 'tags'];

/**
 * Fires "change" with detail {kind, name}: kind is "added", "updated" or "removed" for changes made in
 * this tab, "other" when another tab changed the list.
 */
export const uploadsEvents = new EventTarget();

function read(store, key) {
  try {
    return store.getItem(key);
  } catch {
    return null;
  }
}

function write(store, key, value) {
  try {
    if (value === null) store.removeItem(key);
    else store.setItem(key, value);
    return true;
  } catch {
    return false;
  }
}

function loadUploads() {
  try {
    const list = JSON.parse(read(localStorage, UPLOADS_KEY) || '[]');
    return Array.isArray(list) ? list.filter((item) => item && typeof item.name === 'string') : [];
  } catch {
    return [];
  }
}

function saveUploads(list, kind, name) {
  const saved = write(localStorage, UPLOADS_KEY, JSON.stringify(list));
  uploadsEvents.dispatchEvent(new CustomEvent('change', { detail: { kind, name } }));
  return saved;
}

/** This browser's uploads, newest first. */
export function listUploads() {
  return loadUploads().sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
}

/** The stored record for `name`, or undefined. */
export function findUpload(name) {
  return loadUploads().find((item) => item.name === name);
}

/** Remember an upload response. Returns false if the browser would not store it. */
export function rememberUpload(response) {
  const record = Object.fromEntries(UPLOAD_FIELDS.map((field) => [field, response[field] ?? null]));
  const list = loadUploads().filter((item) => item.name !== record.name);
  list.push(record);
  return saveUploads(list, 'added', record.name);
}

/** Store the title, description and tags of `image` (the server's answer to a change) with its upload. */
export function updateUploadLabels(image) {
  const list = loadUploads();
  const record = list.find((item) => item.name === image.name);
  if (!record) return false;
  for (const field of LABEL_FIELDS) record[field] = image[field] ?? null;
  return saveUploads(list, 'updated', image.name);
}

/** Forget an upload (after deleting it, or when it is gone from the server). */
export function forgetUpload(name) {
  const list = loadUploads();
  const rest = list.filter((item) => item.name !== name);
  if (rest.length !== list.length) saveUploads(rest, 'removed', name);
}

// Another tab uploaded or deleted something.
window.addEventListener('storage', (event) => {
  if (event.key === UPLOADS_KEY || event.key === null) {
    uploadsEvents.dispatchEvent(new CustomEvent('change', { detail: { kind: 'other', name: null } }));
  }
  if (event.key === ALBUMS_KEY || event.key === null) {
    albumsEvents.dispatchEvent(new CustomEvent('change', { detail: { kind: 'other', id: null } }));
  }
});

export const adminToken = () => read(sessionStorage, ADMIN_TOKEN_KEY) || '';
export const setAdminToken = (token) => write(sessionStorage, ADMIN_TOKEN_KEY, token || null);

export const uploadToken = () => read(sessionStorage, UPLOAD_TOKEN_KEY) || '';
export const setUploadToken = (token) => write(sessionStorage, UPLOAD_TOKEN_KEY, token || null);

// --- Albums made in this browser, with their album tokens (the only way to delete them).

const ALBUMS_KEY = 'imagehost.albums.v1';
// `images`: the names of its images, to forget them here when the album is deleted with them.
const ALBUM_FIELDS = ['id', 'url', 'album_token', 'title', 'created_at', 'count', 'images'];

/** Fires "change" with detail {kind: "added" | "removed" | "other", id}. */
export const albumsEvents = new EventTarget();

function loadAlbums() {
  try {
    const list = JSON.parse(read(localStorage, ALBUMS_KEY) || '[]');
    return Array.isArray(list) ? list.filter((item) => item && typeof item.id === 'string') : [];
  } catch {
    return [];
  }
}

function saveAlbums(list, kind, id) {
  const saved = write(localStorage, ALBUMS_KEY, JSON.stringify(list));
  albumsEvents.dispatchEvent(new CustomEvent('change', { detail: { kind, id } }));
  return saved;
}

/** This browser's albums, newest first. */
export function listAlbums() {
  return loadAlbums().sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
}

/**
 * Remember albums (records with at least id, url and album_token); an id already known is
 * kept as it is. Returns how many were new, or -1 if the browser would not store them.
 */
export function rememberAlbums(records) {
  const list = loadAlbums();
  const known = new Set(list.map((album) => album.id));
  const added = records
    .filter((record) => !known.has(record.id) && known.add(record.id))
    .map((record) => Object.fromEntries(ALBUM_FIELDS.map((field) => [field, record[field] ?? null])));
  if (added.length === 0) return 0;
  return saveAlbums([...list, ...added], 'added', added[0].id) ? added.length : -1;
}

/** Remember a new album from the server's answer to POST /api/albums. Returns false if not stored. */
export function rememberAlbum(response) {
  const images = response.images.map((image) => image.name);
  return rememberAlbums([{ ...response, count: images.length, images }]) === 1;
}

/** Forget an album (after deleting it, or when it is gone). */
export function forgetAlbum(id) {
  const list = loadAlbums();
  const rest = list.filter((album) => album.id !== id);
  if (rest.length !== list.length) saveAlbums(rest, 'removed', id);
}

/**
 * Remember several stored-upload records at once (an import); a name already known is kept
 * as it is. Returns how many were new, or -1 if the browser would not store them.
 */
export function rememberUploads(records) {
  const list = loadUploads();
  const known = new Set(list.map((upload) => upload.name));
  const added = records
    .filter((record) => !known.has(record.name) && known.add(record.name))
    .map((record) => Object.fromEntries(UPLOAD_FIELDS.map((field) => [field, record[field] ?? null])));
  if (added.length === 0) return 0;
  return saveUploads([...list, ...added], 'added', added[0].name) ? added.length : -1;
}
