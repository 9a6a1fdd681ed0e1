// The checks made before sending, from the limits the server publishes at GET /api/limits.
// They spare a round trip for the obvious cases; the server still decides, and when it
// refuses, its own message is shown.

import { formatBytes, formatList } from './format.js';

function extensionOf(fileName) {
  const dot = fileName.lastIndexOf('.');
  return dot > 0 ? fileName.slice(dot).toLowerCase() : '';
}

/** "JPG, PNG or GIF". */
export function describeTypes(limits) {
  return formatList(limits.accepted_extensions.map((extension) => extension.replace(/^\./, '').toUpperCase()));
}

/** "JPG, PNG or GIF, up to 5 MiB each". */
export function describeLimits(limits) {
  return `${describeTypes(limits)}, up to ${formatBytes(limits.max_upload_bytes)} each`;
}

/** Value for <input type=file accept>. */
export function acceptAttribute(limits) {
  return [...limits.accepted_types, ...limits.accepted_extensions].join(',');
}

/**
 * What is wrong with `file` for this server, as a sentence to show, or null if it may be sent.
 * The type comes from the browser (by extension); files it cannot type are judged by extension.
 */
export function checkFile(file, limits) {
  const typeKnown = file.type !== '';
  const accepted = typeKnown
    ? limits.accepted_types.includes(file.type)
    : limits.accepted_extensions.includes(extensionOf(file.name));
  if (!accepted) {
    return `This file type is not accepted. Choose a ${describeTypes(limits)} image.`;
  }
  if (file.size > limits.max_upload_bytes) {
    return `This file is ${formatBytes(file.size)}; the limit is ${formatBytes(limits.max_upload_bytes)}.`;
  }
  if (file.size === 0) {
    return 'This file is empty.';
  }
  return null;
}
