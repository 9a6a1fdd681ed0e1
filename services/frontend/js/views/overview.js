// The owner's overview at the top of Images, shown only with the admin token: how many
// images and bytes are stored, the free disk, and uploads per day over the last 30 days
// (GET /api/stats). Without the token, or when the server refuses it, there is nothing.

import { getStats } from '../api.js';
import { barChart } from '../chart.js';
import { h } from '../dom.js';
import { formatBytes } from '../format.js';

/**
 * Put the (hidden) panel before `anchor`. Returns {setToken(token), show(), hide()}: the
 * stats are fetched whenever the view is shown with a token, or the token changes while
 * it is shown.
 */
export function mountOverview(anchor) {
  let token = '';
  let visible = false;
  let generation = 0; // answers to an earlier request are dropped

  const body = h('div', { class: 'overview__body' });
  const problem = h('p', { class: 'field-error', 'aria-live': 'polite' });
  const panel = h('section', { class: 'panel overview', id: 'overview', 'aria-labelledby': 'overview-title', hidden: true },
    h('div', { class: 'panel__head' },
      h('div', {},
        h('h2', { class: 'panel__title', id: 'overview-title' }, 'Overview'),
        h('p', { class: 'panel__sub' }, 'What this server holds, for its owner.'))),
    body,
    problem,
  );
  anchor.before(panel);

  async function load() {
    const mine = ++generation;
    panel.hidden = !token;
    if (!token || !visible) return;
    problem.textContent = '';
    try {
      const stats = await getStats(token);
      if (mine === generation) show(stats);
    } catch (failure) {
      if (mine !== generation) return;
      if (failure.status === 401 || failure.status === 403) panel.hidden = true;
      else problem.textContent = failure.message;
    }
  }

  function show(stats) {
    const days = stats.uploads_per_day;
    const total = days.reduce((sum, day) => sum + day.uploads, 0);
    const busiest = days.reduce((best, day) => (day.uploads > best.uploads ? day : best), days[0] || { uploads: 0 });
    const summary = total === 0
      ? `No uploads in the last ${days.length} days.`
      : `${total} ${total === 1 ? 'upload' : 'uploads'} in the last ${days.length} days, most on ${busiest.date} (${busiest.uploads}).`;
    body.replaceChildren(
      h('dl', { class: 'overview__numbers' },
        figure('Images', stats.images, String(stats.images)),
        figure('Stored', stats.bytes_stored, formatBytes(stats.bytes_stored)),
        figure('Free disk', stats.disk_free_bytes, `${formatBytes(stats.disk_free_bytes)} of ${formatBytes(stats.disk_total_bytes)}`)),
      h('h3', { class: 'overview__chart-title' }, `Uploads per day, last ${days.length} days`),
      barChart(days.map((day) => ({ label: day.date, value: day.uploads })), {
        summary,
        caption: 'Uploads per day',
        labelHeading: 'Day (UTC)',
        valueHeading: 'Uploads',
      }),
    );
  }

  return {
    setToken(value) {
      if (value === token) return;
      token = value;
      load();
    },
    show() {
      visible = true;
      load();
    },
    hide() {
      visible = false;
    },
  };
}

function figure(label, value, text) {
  return h('div', { class: 'overview__figure' },
    h('dt', {}, label),
    h('dd', { 'data-value': value }, text));
}
