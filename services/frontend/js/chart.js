// A small bar chart drawn by the page itself: SVG elements made one by one (no library, no
// markup from strings), a sentence that sums it up for screen readers, and the same numbers
// as a table for anyone who wants to read them.

import { h } from './dom.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const WIDTH = 300;
const HEIGHT = 80;
const GAP = 2;

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

/**
 * A bar chart of `points` ([{label, value}], in order), described by `summary` (the SVG's
 * accessible name) with `caption` for its table. Bars scale to the largest value; a zero
 * is a bar with no height, so there is always one bar per point.
 */
export function barChart(points, { summary, caption, labelHeading, valueHeading }) {
  const largest = Math.max(1, ...points.map((point) => point.value));
  const step = WIDTH / Math.max(1, points.length);
  const bars = points.map((point, index) => {
    const height = (point.value / largest) * (HEIGHT - 2);
    return svg('rect', {
      class: 'chart__bar',
      x: (index * step + GAP / 2).toFixed(2),
      y: (HEIGHT - height).toFixed(2),
      width: Math.max(1, step - GAP).toFixed(2),
      height: height.toFixed(2),
      'data-value': point.value,
    }, svg('title', {}, `${point.label}: ${point.value}`));
  });
  const picture = svg('svg', {
    class: 'chart__svg',
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: 'none',
    role: 'img',
    'aria-label': summary,
  }, svg('line', { class: 'chart__axis', x1: 0, y1: HEIGHT - 0.5, x2: WIDTH, y2: HEIGHT - 0.5 }), ...bars);

  const table = h('table', { class: 'chart__table' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, labelHeading), h('th', { scope: 'col' }, valueHeading))),
    h('tbody', {}, points.map((point) => h('tr', {}, h('th', { scope: 'row' }, point.label), h('td', {}, String(point.value))))),
  );
  return h('figure', { class: 'chart' },
    picture,
    h('figcaption', { class: 'chart__summary' }, summary),
    h('details', { class: 'chart__details' }, h('summary', {}, 'Show as a table'), table),
  );
}
