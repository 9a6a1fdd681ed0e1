// One row of the upload list: preview, name, size, progress, and what came of it. Until the
// upload is done the preview is the chosen file itself (nothing is downloaded for it);
// then the server's small preview takes its place once it has loaded.

import { copyButton, snippets } from '../clipboard.js';
import { h, icon, previewImage, previewSrc } from '../dom.js';
import { formatBytes, formatDate, formatDimensions } from '../format.js';
import { tagChips } from './details-fields.js';

/**
 * A row for `file`. `actions` are callbacks the row offers as buttons when they apply:
 * {retry, cancel, dismiss, remove}; `remove(row)` deletes the uploaded image.
 * Call `render(view)` with {state, loaded, total, result, message, retryable}, where state is
 * ready | refused | queued | uploading | done | failed | cancelled; a ready row waits for
 * "Upload" with the fields given to holdForDetails().
 */
export class UploadRow {
  constructor(file, actions) {
    this.file = file;
    this.actions = actions;
    this.state = null;
    this.previewUrl = file.type.startsWith('image/') ? URL.createObjectURL(file) : null;

    this.preview = h('div', { class: 'upload__preview' });
    this.showPreview();
    this.size = h('span', { class: 'upload__size' }, formatBytes(file.size));
    this.progress = h('progress', { class: 'upload__progress', max: '100', value: '0', 'aria-label': `Upload of ${file.name}` });
    this.status = h('p', { class: 'upload__status' });
    this.detail = h('div', { class: 'upload__detail' });
    this.buttons = h('div', { class: 'upload__buttons' });
    this.element = h('li', { class: 'upload' },
      this.preview,
      h('div', { class: 'upload__main' },
        h('div', { class: 'upload__top' },
          h('span', { class: 'upload__name', title: file.name }, file.name),
          this.size,
        ),
        this.progress,
        this.status,
        this.detail,
      ),
      this.buttons,
    );
  }

  showPreview() {
    if (!this.previewUrl) {
      this.preview.replaceChildren(icon('image'));
      return;
    }
    const image = h('img', { src: this.previewUrl, alt: `Preview of ${this.file.name}` });
    // Not an image after all (e.g. text renamed .png): show the placeholder instead.
    image.addEventListener('error', () => this.preview.replaceChildren(icon('image')), { once: true });
    this.preview.replaceChildren(image);
  }

  /** Free the preview's memory; call when the row leaves the page for good. */
  dispose() {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = null;
  }

  /** Swap the local picture for the server's preview of `result` once that has loaded. */
  showServerPreview(result) {
    const src = previewSrc(result);
    if (src === null) return;
    const image = previewImage(src, { alt: `Preview of ${this.file.name}`, hidden: true }, () => image.remove());
    image.addEventListener('load', () => {
      image.hidden = false;
      this.preview.replaceChildren(image);
      this.dispose();
    });
    this.preview.append(image);
  }

  render(view) {
    const changed = view.state !== this.state;
    this.state = view.state;
    this.element.dataset.state = view.state;

    if (view.state === 'uploading') {
      const total = view.total || this.file.size || 1;
      const percent = Math.min(100, Math.floor((view.loaded / total) * 100));
      this.progress.value = percent;
      this.setStatus(view.loaded >= total
        ? 'Processing…'
        : `Uploading… ${percent}% · ${formatBytes(view.loaded)} of ${formatBytes(total)}`);
    }
    if (!changed) return;

    this.progress.hidden = !(view.state === 'queued' || view.state === 'uploading');
    if (view.state === 'queued') {
      this.progress.value = 0;
      this.setStatus('Waiting…');
    }
    this.detail.replaceChildren();
    this.buttons.replaceChildren();

    switch (view.state) {
      case 'queued':
      case 'uploading':
        this.addButton('cancel', 'close', null, `Cancel the upload of ${this.file.name}`);
        break;
      case 'done':
        this.setStatus('Uploaded', 'check');
        this.showResult(view.result);
        this.showServerPreview(view.result);
        break;
      case 'failed':
        this.setStatus(view.message, 'alert');
        if (view.retryable) this.addButton('retry', 'retry', 'Retry', `Retry the upload of ${this.file.name}`);
        this.addButton('dismiss', 'close', null, `Dismiss ${this.file.name}`);
        break;
      case 'ready':
        this.setStatus('Waiting for Upload');
        this.showDetailsToggle();
        this.addButton('dismiss', 'close', null, `Remove ${this.file.name}`);
        break;
      case 'refused':
        this.setStatus(view.message, 'alert');
        this.addButton('dismiss', 'close', null, `Dismiss ${this.file.name}`);
        break;
      case 'cancelled':
        this.setStatus('Cancelled');
        this.addButton('retry', 'retry', 'Retry', `Retry the upload of ${this.file.name}`);
        this.addButton('dismiss', 'close', null, `Dismiss ${this.file.name}`);
        break;
      default:
        throw new Error(`unknown upload state ${view.state}`);
    }
  }

  /** Keep `fields` (a detailsFields) for this file until it is sent. */
  holdForDetails(fields) {
    this.fields = fields;
  }

  /** "Add details": shows the fields kept by holdForDetails(), collapsed at first. */
  showDetailsToggle() {
    const body = h('div', { class: 'upload__fields', hidden: true }, this.fields.element);
    const toggle = h('button', {
      type: 'button',
      class: 'btn btn--small btn--quiet',
      'aria-expanded': 'false',
      'aria-label': `Add details to ${this.file.name}`,
      onclick: () => {
        body.hidden = !body.hidden;
        toggle.setAttribute('aria-expanded', String(!body.hidden));
        if (!body.hidden) this.fields.focus();
      },
    }, 'Add details');
    this.detail.append(toggle, body);
  }

  setStatus(text, iconName = null) {
    this.status.replaceChildren(...(iconName ? [icon(iconName)] : []), h('span', {}, text));
  }

  /** Show an error under a finished upload (e.g. the server refused to delete it). */
  showError(message) {
    this.detail.querySelector('.upload__error')?.remove();
    this.detail.append(h('p', { class: 'upload__error' }, icon('alert'), h('span', {}, message)));
  }

  addButton(action, iconName, label, accessibleName) {
    const button = h('button', {
      type: 'button',
      class: label ? 'btn btn--small' : 'btn btn--small btn--icon btn--quiet',
      'aria-label': accessibleName,
      title: label ? null : accessibleName,
      onclick: () => this.actions[action](this),
    }, icon(iconName), label && h('span', {}, label));
    this.buttons.append(button);
  }

  showResult(result) {
    const name = this.file.name;
    this.size.textContent = [formatBytes(result.size), formatDimensions(result.width, result.height)].filter(Boolean).join(' · ');
    const link = h('input', { class: 'link-field', type: 'text', readonly: true, value: result.url, 'aria-label': `Link to ${name}` });
    link.addEventListener('focus', () => link.select());
    this.detail.append(
      h('div', { class: 'upload__labels' },
        result.title && h('p', { class: 'upload__title' }, result.title),
        result.tags && result.tags.length > 0 && tagChips(result.tags),
        result.expires_at && h('p', { class: 'upload__expiry' }, 'Deleted on ', h('time', { datetime: result.expires_at }, formatDate(result.expires_at)))),
      link,
      h('div', { class: 'upload__actions' },
        h('div', { class: 'copy-group', role: 'group', 'aria-label': `Copy the link to ${name} as` },
          snippets(result).map(({ label, text }) => copyButton({ label, text, description: `${label} for ${name}` })),
        ),
        h('div', { class: 'upload__links' },
          h('a', { class: 'btn btn--small', href: result.url, target: '_blank', rel: 'noopener', 'aria-label': `Open ${name} in a new tab` },
            icon('external'), h('span', {}, 'Open')),
          h('button', { type: 'button', class: 'btn btn--small btn--danger-quiet', 'aria-label': `Delete ${name}`, onclick: () => this.actions.remove(this) },
            icon('trash'), h('span', {}, 'Delete')),
        ),
      ),
    );
  }
}
