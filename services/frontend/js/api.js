// Client for the HTTP API (same origin, behind nginx). Every function returns a Promise
// that resolves with the parsed JSON body (null for 204) and rejects with an ApiError.
// The server is the authority on what is allowed: when it refuses, ApiError.message is its
// own `error.message`, meant to be shown to the person as it is.

const NETWORK_MESSAGE = 'Could not reach the server. Check your connection and try again.';

export class ApiError extends Error {
  /**
   * @param {string} message  text to show as is
   * @param {number} status   HTTP status, or 0 when no answer arrived
   * @param {string} code     the server's error code, or "network" / "aborted" / "http_<status>"
   */
  constructor(message, status, code) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }

  /** Worth trying again unchanged: the network failed or the server had a problem. */
  get retryable() {
    return this.status === 0 ? this.code === 'network' : this.status >= 500;
  }
}

/** Turn an error answer into an ApiError; `body` is the parsed JSON or null. */
function errorFrom(status, body) {
  const error = body && typeof body === 'object' ? body.error : null;
  if (error && typeof error.message === 'string') {
    return new ApiError(error.message, status, String(error.code || `http_${status}`));
  }
  // Not the API's JSON, e.g. an error page from a proxy in front of it.
  return new ApiError(`The server answered with status ${status}. Try again later.`, status, `http_${status}`);
}

function authorization(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** `json`, when given, is sent as the JSON body; aborting `signal` rejects with code "aborted". */
async function request(method, path, token, json = undefined, signal = undefined) {
  const init = { method, headers: authorization(token), cache: 'no-store', signal };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    if (signal && signal.aborted) throw cancelled();
    throw new ApiError(NETWORK_MESSAGE, 0, 'network');
  }
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw errorFrom(response.status, answer);
  if (answer === null) throw errorFrom(response.status, null);
  return answer;
}

function imagePath(name) {
  return `/api/images/${encodeURIComponent(name)}`;
}

/** The upload limits, defined once on the server. */
export function getLimits() {
  return request('GET', '/api/limits');
}

/**
 * One page of images, newest first: {items, next_cursor}. Needs the admin token unless the
 * gallery is public. `q` searches titles, descriptions, tags and names; every one of `tags`
 * must match.
 */
export function listImages({ limit, cursor = null, token = '', q = '', tags = [] }) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (cursor) query.set('cursor', cursor);
  if (q) query.set('q', q);
  for (const tag of tags) query.append('tag', tag);
  return request('GET', `/api/images?${query}`, token);
}

/**
 * Change an image's title, description and/or tags; resolves with the image as it is now.
 * `token`: its delete token or the admin token. A refused value rejects with status 400
 * and the server's message naming the field.
 */
export function updateImage(name, token, changes) {
  return request('PATCH', imagePath(name), token, changes);
}

/** The owner's overview (admin token): images, bytes_stored, disk_free_bytes, uploads_per_day. */
export function getStats(token) {
  return request('GET', '/api/stats', token);
}

/** One image's record; rejects with status 404 once it is gone. `token`: its delete token or the admin token. */
export function getImage(name, token) {
  return request('GET', imagePath(name), token);
}

/** Delete an image; resolves with null. `token`: its delete token or the admin token. */
export function deleteImage(name, token) {
  return request('DELETE', imagePath(name), token);
}

function cancelled() {
  return new ApiError('Upload cancelled.', 0, 'aborted');
}

/**
 * POST `form` to `url` with XMLHttpRequest; resolves with the XHR once any answer has
 * arrived, rejects with an ApiError ("network", or "aborted" when `signal` aborts).
 *
 * XMLHttpRequest is used here only because fetch() has no upload progress events
 * (https://github.com/whatwg/fetch/issues/607); everything else uses fetch.
 */
function postForm(url, form, { headers = {}, signal, onProgress, responseType = 'json' } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.responseType = responseType;
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);

    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener('load', () => resolve(xhr));
    xhr.addEventListener('error', () => reject(new ApiError(NETWORK_MESSAGE, 0, 'network')));
    xhr.addEventListener('abort', () => reject(cancelled()));

    if (signal) {
      if (signal.aborted) {
        reject(cancelled());
        return;
      }
      signal.addEventListener('abort', () => xhr.abort(), { once: true });
    }
    xhr.send(form);
  });
}

/** `fields` that have a value, in order. */
function filledIn(fields) {
  return Object.entries(fields).filter(([, value]) => value);
}

/**
 * Upload one file as multipart/form-data (field `file`). Resolves with the 201 body.
 *
 * @param {File} file
 * @param {{token?: string, signal?: AbortSignal, onProgress?: (loaded: number, total: number) => void,
 *   fields?: Object<string, string>}} options
 *   `onProgress` is called as bytes leave the browser; aborting `signal` rejects with code "aborted".
 *   `fields`: text fields sent before the file (title, description, tags, expires_in); empty ones are left out.
 */
export async function uploadImage(file, { token = '', signal, onProgress, fields = {} } = {}) {
  const form = new FormData();
  for (const [name, value] of filledIn(fields)) form.append(name, value);
  form.append('file', file, file.name);
  const xhr = await postForm('/upload', form, { headers: authorization(token), signal, onProgress });
  if (xhr.status >= 200 && xhr.status < 300 && xhr.response) return xhr.response;
  throw errorFrom(xhr.status, xhr.response);
}

/**
 * Upload one file straight to the bucket, for a server whose limits say `direct_uploads`:
 * POST /api/uploads for a presigned form, the form and the file to the bucket (with
 * progress), then POST /api/uploads/<id>/complete with `fields`, which the server checks
 * and publishes. Resolves with the same 201 body as uploadImage, takes the same options.
 *
 * Falls back to uploadImage when the server takes no direct uploads after all (404) or
 * leaves the file's type to /upload to judge by its bytes (415: the browser's `file.type`
 * comes from the name, and may be empty).
 */
export async function uploadDirect(file, { token = '', signal, onProgress, fields = {} } = {}) {
  let upload;
  try {
    const declared = { filename: file.name, size: file.size, content_type: file.type };
    upload = await request('POST', '/api/uploads', token, declared, signal);
  } catch (error) {
    if (error.status === 404 || error.status === 415) return uploadImage(file, { token, signal, onProgress, fields });
    throw error;
  }
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append('file', file, file.name); // the bucket wants the file last
  const sent = await postForm(upload.url, form, { signal, onProgress, responseType: 'text' });
  if (sent.status < 200 || sent.status >= 300) {
    // The bucket's own error is XML for programs; the server re-checks everything anyway.
    const message = `The image store refused the file (status ${sent.status}). Try again later.`;
    throw new ApiError(message, sent.status, `bucket_${sent.status}`);
  }
  const details = Object.fromEntries(filledIn(fields));
  return request('POST', `/api/uploads/${encodeURIComponent(upload.id)}/complete`, token, details, signal);
}

/** What the image page shows of image `name` (public: no original file name); 404 once it is gone. */
export function getPublicImage(name) {
  return request('GET', `/api/public/images/${encodeURIComponent(name)}`);
}

function albumPath(id) {
  return `/api/albums/${encodeURIComponent(id)}`;
}

/** An album, for anyone with its id: {id, url, title, description, created_at, images}; 404 once it is gone. */
export function getAlbum(id) {
  return request('GET', albumPath(id));
}

/**
 * Make an album of `images` ([{name, delete_token}], in order; with their tokens the album
 * may delete them later). Resolves with the album and its album_token (shown only now).
 */
/** `token`: the upload token, which making an album needs when the server has one. */
export function createAlbum({ title = '', images, token = '' }) {
  return request('POST', '/api/albums', token, { title, images });
}

/** Delete an album with its token; `withImages` deletes the images it was given tokens for too. */
export function deleteAlbum(id, token, { withImages = false } = {}) {
  return request('DELETE', `${albumPath(id)}${withImages ? '?with_images=true' : ''}`, token);
}
