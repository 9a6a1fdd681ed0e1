// How numbers and dates read on the page.

const UNITS = ['KiB', 'MiB', 'GiB'];

/** 1234 → "1.2 KiB", 5242880 → "5 MiB": the units the server's messages use. */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '';
  if (bytes < 1024) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`;
  let value = bytes;
  let unit = -1;
  do {
    value /= 1024;
    unit += 1;
  } while (value >= 1024 && unit < UNITS.length - 1);
  const digits = value < 10 && !Number.isInteger(value) ? 1 : 0;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** "800 × 600", or "" when unknown. */
export function formatDimensions(width, height) {
  return width && height ? `${width} × ${height}` : '';
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** An ISO 8601 timestamp in the reader's locale and time zone, or "" if unreadable. */
export function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : dateFormat.format(date);
}

/** ["JPG", "PNG", "GIF"] → "JPG, PNG or GIF". */
export function formatList(words, conjunction = 'or') {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} ${conjunction} ${words[words.length - 1]}`;
}
