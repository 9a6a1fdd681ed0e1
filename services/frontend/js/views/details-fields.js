// The fields people write about an image: title, description, tags (typed comma-separated,
// shown as chips while typing) and, on upload, how long it is kept. Used by the upload
// rows, the "details for all files" panel and the cards' edit form. The server is the
// authority on every limit (services/backend/imagehost/labels.py): the lengths here only
// stop typing past them, and its 400 message is shown next to the field it names.

import { h } from '../dom.js';

const MAX_TITLE = 200;
const MAX_DESCRIPTION = 2000;

// [expires_in value, label, seconds (null: never)], shortest last but never first.
const EXPIRIES = [
  ['never', 'Never', null],
  ['1h', '1 hour', 3600],
  ['1d', '1 day', 86400],
  ['7d', '7 days', 7 * 86400],
  ['30d', '30 days', 30 * 86400],
];

let lastId = 0;

/**
 * The tags in `text` (comma-separated) roughly as the server will store them: trimmed, lower
 * case, spaces and underscores as '-', duplicates dropped. Only for showing chips; the
 * server's own normalisation is what is stored.
 */
export function parseTags(text) {
  const found = [];
  for (const part of String(text).split(',')) {
    const tag = part.trim().toLowerCase().replace(/[\s_]+/g, '-').replace(/^-+|-+$/g, '');
    if (tag && !found.includes(tag)) found.push(tag);
  }
  return found;
}

/**
 * A list of tag chips. With `onClick(tag)` each chip is a button named by `describe(tag)`;
 * otherwise plain text. With `limit`, the tags past it are only counted ("+12 more").
 * Tags are always text nodes, never markup.
 */
export function tagChips(tags, { onClick = null, describe = (tag) => `Filter by tag ${tag}`, limit = Infinity } = {}) {
  const hidden = Math.max(0, tags.length - limit);
  return h('ul', { class: 'chips', hidden: tags.length === 0 },
    tags.slice(0, limit).map((tag) => h('li', {},
      onClick
        ? h('button', { type: 'button', class: 'chip chip--button', 'aria-label': describe(tag), onclick: () => onClick(tag) }, tag)
        : h('span', { class: 'chip' }, tag))),
    hidden > 0 && h('li', { class: 'chips__more' }, `+${hidden} more`));
}

/** The expiry choices this server allows: [{value, label, seconds}], "never" only without a MAX_EXPIRY. */
export function expiryChoices(limits) {
  const longest = limits ? limits.max_expiry ?? null : null;
  return EXPIRIES
    .filter(([, , seconds]) => longest === null || (seconds !== null && seconds <= longest))
    .map(([value, label, seconds]) => ({ value, label, seconds }));
}

function field(label, control, hint = null) {
  const error = h('p', { class: 'field-error', id: `${control.id}-error`, 'aria-live': 'polite' });
  control.setAttribute('aria-describedby', [hint && hint.id, error.id].filter(Boolean).join(' '));
  return { error, element: h('div', { class: 'details__field' }, h('label', { for: control.id }, label), control, hint, error) };
}

/**
 * The fields, empty or filled from `values` ({title, description, tags}). With `limits`
 * given (GET /api/limits, or null while unknown) an expiry select is added, offering what
 * the server allows, its default chosen.
 *
 * Returns {element, values(), uploadFields(), snapshot(), showError(message), clearErrors(),
 * focus(), touched()}: values() is what PATCH takes ({title, description, tags: [..]});
 * uploadFields() the upload form's text fields; showError puts the server's message under
 * the field it names (tags, description, title or expiry) and returns that field's key, or
 * null when it names none; touched() says whether anything was typed.
 */
export function detailsFields({ values = {}, limits = undefined, label = '' } = {}) {
  const id = `details-${++lastId}`;
  const suffix = label ? ` (${label})` : '';
  let touched = false;

  const title = h('input', { type: 'text', id: `${id}-title`, maxlength: String(MAX_TITLE), value: values.title || '' });
  const description = h('textarea', { id: `${id}-description`, rows: '2', maxlength: String(MAX_DESCRIPTION) });
  description.value = values.description || '';
  const tags = h('input', { type: 'text', id: `${id}-tags`, value: (values.tags || []).join(', '), spellcheck: 'false' });
  const tagsHint = h('p', { class: 'details__hint', id: `${id}-tags-hint` }, 'Separate tags with commas.');
  const chips = h('div', { class: 'details__chips' });
  const showChips = () => chips.replaceChildren(tagChips(parseTags(tags.value)));
  showChips();

  const fields = {
    title: field(`Title${suffix}`, title),
    description: field(`Description${suffix}`, description),
    tags: field(`Tags${suffix}`, tags, tagsHint),
  };
  fields.tags.element.append(chips);

  let expiry = null;
  if (limits !== undefined) {
    expiry = h('select', { id: `${id}-expiry` });
    const choices = expiryChoices(limits);
    const fallback = limits ? limits.default_expiry ?? null : null;
    if (!choices.some((choice) => choice.seconds === fallback)) {
      expiry.append(h('option', { value: '' }, "This server's default"));
    }
    for (const choice of choices) {
      expiry.append(h('option', { value: choice.value, selected: choice.seconds === fallback }, choice.label));
    }
    if ([...expiry.options].some((option) => option.value === values.expires_in)) expiry.value = values.expires_in;
    fields.expiry = field(`Delete after${suffix}`, expiry);
  }

  const element = h('div', { class: 'details' }, Object.values(fields).map((each) => each.element));
  element.addEventListener('input', () => { touched = true; });
  element.addEventListener('change', () => { touched = true; });
  tags.addEventListener('input', showChips);

  function clearErrors() {
    for (const each of Object.values(fields)) each.error.textContent = '';
    for (const control of element.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
  }

  return {
    element,
    values: () => ({ title: title.value, description: description.value, tags: parseTags(tags.value) }),
    uploadFields: () => ({
      title: title.value.trim(),
      description: description.value.trim(),
      tags: parseTags(tags.value).join(','),
      expires_in: expiry ? expiry.value : '',
    }),
    /** Values to start another set of fields from (the expiry as its select value). */
    snapshot: () => ({ title: title.value, description: description.value, tags: parseTags(tags.value), expires_in: expiry ? expiry.value : undefined }),
    showError(message) {
      clearErrors();
      const named = /\btags?\b/i.test(message) ? 'tags'
        : /\bdescription\b/i.test(message) ? 'description'
          : /\btitle\b/i.test(message) ? 'title'
            : /expir/i.test(message) && expiry ? 'expiry' : null;
      if (named === null) return null;
      fields[named].error.textContent = message;
      fields[named].element.querySelector('input, textarea, select').setAttribute('aria-invalid', 'true');
      return named;
    },
    clearErrors,
    focus: () => title.focus(),
    touched: () => touched,
  };
}
