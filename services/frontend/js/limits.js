// The checks made before sending, from the limits the server publishes at GET /api/limits.
// Only the size is checked here: the type is the server's to decide, by the file's bytes
// (a JPEG named photo.heic is a JPEG), and when it refuses, its own message is shown.

import { formatBytes, formatList } from './format.js';

// Subtypes whose name is not simply upper case, written as the server's messages write them.
const TYPE_NAMES = { webp: 'WebP' };

function typeName(mimeType) {
  const subtype = mimeType.split('/').pop();
  return TYPE_NAMES[subtype] ?? subtype.toUpperCase();
}

/** "PNG, JPEG, GIF, WebP or AVIF", from the server's accepted_types, in its order. */
export function describeTypes(limits) {
  return formatList(limits.accepted_types.map(typeName));
}

/** "PNG, JPEG, GIF, WebP or AVIF, up to 5 MiB each". */
export function describeLimits(limits) {
  return `${describeTypes(limits)}, up to ${formatBytes(limits.max_upload_bytes)} each`;
}

/**
 * Value for <input type=file accept>: the picker's default filter (any file can still be
 * chosen, dropped or pasted). iOS converts HEIC photos to JPEG for such an input.
 */
export function acceptAttribute(limits) {
  return [...limits.accepted_types, ...limits.accepted_extensions].join(',');
}

/**
 * What is wrong with `file` for this server, as a sentence to show, or null if it may be sent.
 * Neither its name nor the browser's `file.type` (guessed from the name) is judged.
 */
export function checkFile(file, limits) {
  if (file.size > limits.max_upload_bytes) {
    return `This file is ${formatBytes(file.size)}; the limit is ${formatBytes(limits.max_upload_bytes)}.`;
  }
  if (file.size === 0) {
    return 'This file is empty.';
  }
  return null;
}
