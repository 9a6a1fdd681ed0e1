// A search box and the tags being filtered by, shown as removable chips, for one list of
// images. It only collects the filters; the list decides what they mean (My uploads filters
// in the page, All images asks the server).

import { announce } from '../announce.js';
import { h, icon } from '../dom.js';

// Typing settles for this long (ms) before the list is asked to follow it.
const DEBOUNCE = 250;

let lastId = 0;

/**
 * A search bar labelled `label` ("Search my uploads"), in a search landmark named
 * `landmark`. `onChange({q, tags})` is called
 * after typing pauses, and at once when a tag is added or removed.
 * Returns {element, filters(), addTag(tag), active()}.
 */
export function searchBar(label, onChange, { landmark } = {}) {
  const id = `search-${++lastId}`;
  const tags = [];
  let timer = null;

  const input = h('input', { type: 'search', id, class: 'search__input', placeholder: 'Search titles, descriptions, tags, names', spellcheck: 'false' });
  const chips = h('ul', { class: 'chips search__tags', 'aria-label': 'Tags filtered by' });
  // Named apart from the box's own label: a page may hold several search landmarks (My
  // uploads, All images), and each needs a name of its own.
  const element = h('div', { class: 'search', role: 'search', 'aria-label': landmark || null },
    h('label', { class: 'visually-hidden', for: id }, label),
    input,
    chips,
  );

  const filters = () => ({ q: input.value.trim(), tags: [...tags] });

  function changed() {
    clearTimeout(timer);
    timer = null;
    onChange(filters());
  }

  function showTags() {
    chips.hidden = tags.length === 0;
    chips.replaceChildren(...tags.map((tag) => h('li', {},
      h('button', {
        type: 'button',
        class: 'chip chip--button chip--active',
        'aria-label': `Stop filtering by tag ${tag}`,
        onclick: () => {
          tags.splice(tags.indexOf(tag), 1);
          showTags();
          changed();
          input.focus();
        },
      }, h('span', {}, tag), icon('close')))));
  }
  showTags();

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(changed, DEBOUNCE);
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') changed();
  });

  return {
    element,
    filters,
    /** Whether anything filters the list. */
    active: () => filters().q !== '' || tags.length > 0,
    /**
     * Filter by `tag` as well (nothing happens if it already does). Focus moves to the
     * search box: the card whose chip was pressed may leave the list.
     */
    addTag(tag) {
      if (tags.includes(tag)) return;
      tags.push(tag);
      showTags();
      changed();
      input.focus();
      announce(`Filtering by tag ${tag}.`);
    },
  };
}
