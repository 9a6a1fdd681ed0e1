// Status and errors for screen readers, through the two aria-live regions in index.html.
// Each message is a new child, so messages arriving together are all read, and the same
// message twice ("Copied") is read twice. Old messages are removed after a while.

const KEEP_MS = 8000;

/** Announce `message`; `urgent` interrupts (use for errors). */
export function announce(message, { urgent = false } = {}) {
  const region = document.getElementById(urgent ? 'announce-alert' : 'announce-status');
  const line = document.createElement('p');
  line.textContent = message;
  region.append(line);
  setTimeout(() => line.remove(), KEEP_MS);
}
