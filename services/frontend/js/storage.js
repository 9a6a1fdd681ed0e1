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
});

export const adminToken = () => read(sessionStorage, ADMIN_TOKEN_KEY) || '';
export const setAdminToken = (token) => write(sessionStorage, ADMIN_TOKEN_KEY, token || null);

export const uploadToken = () => read(sessionStorage, UPLOAD_TOKEN_KEY) || '';
export const setUploadToken = (token) => write(sessionStorage, UPLOAD_TOKEN_KEY, token || null);
