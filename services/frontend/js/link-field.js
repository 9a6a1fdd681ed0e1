// A link to share, shown as a read-only field beside its copy button.

import { copyButton } from './clipboard.js';
import { h } from './dom.js';

/**
 * A labelled read-only field holding `url` (selected whole on focus) and a button that
 * copies it. `label` is visible ("Page link"); with `subject` ("Sunset") it names the
 * field "Page link of Sunset" and the button "Copy page link of Sunset".
 */
export function linkField({ label, url, subject }) {
  const named = `${label} of ${subject}`;
  const field = h('input', { class: 'link-field', type: 'text', readonly: true, value: url, 'aria-label': named });
  field.addEventListener('focus', () => field.select());
  return h('div', { class: 'share-link' },
    h('span', { class: 'share-link__label', 'aria-hidden': 'true' }, label),
    h('div', { class: 'share-link__row' },
      field,
      copyButton({ label: 'Copy', text: url, description: `${label.toLowerCase()} of ${subject}` }),
    ),
  );
}
