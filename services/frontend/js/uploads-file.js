// Moving this browser's links to another: export writes the uploads and albums kept in
// localStorage (with the tokens that delete them) to a JSON file; import reads such a file
// and adds what is new. An imported file is untrusted: only records whose every kept field
// has the expected shape are taken (a link must be http(s) and end in the image's own
// name, so nothing like "javascript:" ever becomes an href), and the rest is counted.

import { announce } from './announce.js';
import { downloadText } from './download.js';
import { listAlbums, listUploads, rememberAlbums, rememberUploads } from './storage.js';

const byId = (id) => document.getElementById(id);

const FORMAT = 'imagehost-links';
const VERSION = 1;
const MAX_FILE_BYTES = 8 * 1024 * 1024;

const IMAGE_NAME = /^[A-Za-z0-9_-]{12,64}\.(?:jpg|png|gif|webp|avif)$/;
const ALBUM_ID = /^[A-Za-z0-9_-]{16}$/;
const TOKEN = /^[A-Za-z0-9_-]{16,128}$/;

/** `value` if it is an http(s) URL whose path ends with `suffix`, else undefined. */
function linkEndingWith(value, suffix) {
  if (typeof value !== 'string' || value.length > 2048) return undefined;
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.pathname.endsWith(suffix) ? url.href : undefined;
  } catch {
    return undefined;
  }
}

const text = (value, max) => (typeof value === 'string' && value.length <= max ? value : null);
const count = (value) => (Number.isSafeInteger(value) && value >= 0 ? value : null);

/** A stored-upload record from an imported `entry`, or null when it is not one. */
export function uploadFrom(entry) {
  if (!entry || typeof entry !== 'object') return null;
  const { name } = entry;
  if (typeof name !== 'string' || !IMAGE_NAME.test(name)) return null;
  if (typeof entry.delete_token !== 'string' || !TOKEN.test(entry.delete_token)) return null;
  const url = linkEndingWith(entry.url, `/images/${name}`);
  if (!url) return null;
  // null means "the server could not make one"; anything else not well formed becomes the
  // place previews are kept, beside the file.
  const thumbnail = entry.thumbnail_url === null
    ? null
    : linkEndingWith(entry.thumbnail_url, `/images/previews/${name}.webp`) || url.replace(/\/images\/[^/]+$/, `/images/previews/${name}.webp`);
  return {
    name,
    url,
    thumbnail_url: thumbnail,
    delete_token: entry.delete_token,
    size: count(entry.size),
    width: count(entry.width),
    height: count(entry.height),
    created_at: text(entry.created_at, 64),
    original_name: text(entry.original_name, 255),
    type: text(entry.type, 64),
  };
}

/** A stored-album record from an imported `entry`, or null when it is not one. */
export function albumFrom(entry) {
  if (!entry || typeof entry !== 'object') return null;
  const { id } = entry;
  if (typeof id !== 'string' || !ALBUM_ID.test(id)) return null;
  if (typeof entry.album_token !== 'string' || !TOKEN.test(entry.album_token)) return null;
  const url = linkEndingWith(entry.url, `/a/${id}`);
  if (!url) return null;
  const images = Array.isArray(entry.images) ? entry.images.filter((name) => typeof name === 'string' && IMAGE_NAME.test(name)) : [];
  return {
    id,
    url,
    album_token: entry.album_token,
    title: text(entry.title, 200),
    created_at: text(entry.created_at, 64),
    count: count(entry.count),
    images,
  };
}

/** What an export file holds. */
export function exportData() {
  return { format: FORMAT, version: VERSION, exported_at: new Date().toISOString(), uploads: listUploads(), albums: listAlbums() };
}

/**
 * The valid records of a parsed export file: {uploads, albums, skipped}. Throws an Error
 * with a sentence to show when the file is not an export at all.
 */
export function recordsFrom(data) {
  if (!data || typeof data !== 'object' || data.format !== FORMAT || !Array.isArray(data.uploads)) {
    throw new Error('This is not an export of imagehost links (it has no "uploads" list).');
  }
  const albumEntries = Array.isArray(data.albums) ? data.albums : [];
  const uploads = data.uploads.map(uploadFrom).filter(Boolean);
  const albums = albumEntries.map(albumFrom).filter(Boolean);
  const skipped = data.uploads.length - uploads.length + albumEntries.length - albums.length;
  return { uploads, albums, skipped };
}

function plural(number, one, many = `${one}s`) {
  return `${number} ${number === 1 ? one : many}`;
}

const wasOrWere = (number) => (number === 1 ? 'was' : 'were');

/** Read `file`, add its new records; resolves with the sentence that says what happened. */
async function importFile(file) {
  if (file.size > MAX_FILE_BYTES) return 'This file is too large to be an export of links.';
  let data;
  try {
    data = JSON.parse(await file.text());
  } catch {
    return 'This file is not JSON: choose a file made by "Export my uploads".';
  }
  let records;
  try {
    records = recordsFrom(data);
  } catch (error) {
    return error.message;
  }
  const uploads = rememberUploads(records.uploads);
  const albums = rememberAlbums(records.albums);
  if (uploads < 0 || albums < 0) return 'This browser would not store the imported links (storage full or disabled).';
  const known = records.uploads.length - uploads + records.albums.length - albums;
  const parts = [`Added ${plural(uploads, 'upload')} and ${plural(albums, 'album')}.`];
  if (known) parts.push(`${plural(known, 'entry', 'entries')} ${wasOrWere(known)} already here.`);
  if (records.skipped) parts.push(`${plural(records.skipped, 'entry', 'entries')} ${wasOrWere(records.skipped)} not valid and skipped.`);
  return parts.join(' ');
}

export function mountLinksFile() {
  const input = byId('import-file');
  const status = byId('import-status');

  byId('export-links').addEventListener('click', () => {
    const day = new Date().toISOString().slice(0, 10);
    downloadText(`imagehost-links-${day}.json`, `${JSON.stringify(exportData(), null, 2)}\n`);
    announce('Exported this browser\'s uploads and albums.');
  });
  byId('import-links').addEventListener('click', () => input.click());
  input.addEventListener('change', async () => {
    const [file] = input.files;
    input.value = '';
    if (!file) return;
    status.textContent = await importFile(file);
  });
}
