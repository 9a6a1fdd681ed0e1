// A ready ShareX custom uploader (.sxcu): the same request `curl -F file=@x` makes, and
// where ShareX finds the links in the JSON answer
// (https://getsharex.com/docs/custom-uploader). The upload token, when this server needs
// one, is typed in for this file only: it goes into the download and is never stored.

import { announce } from './announce.js';
import { h } from './dom.js';
import { downloadText } from './download.js';

const byId = (id) => document.getElementById(id);

/** The .sxcu settings for this origin; `token` adds the Authorization header when given. */
export function shareXConfig(origin, host, token) {
  const config = {
    Version: '15.0.0',
    Name: `imagehost (${host})`,
    DestinationType: 'ImageUploader, FileUploader',
    RequestMethod: 'POST',
    RequestURL: `${origin}/upload`,
    Body: 'MultipartFormData',
    FileFormName: 'file',
  };
  if (token) config.Headers = { Authorization: `Bearer ${token}` };
  return {
    ...config,
    URL: '{json:url}',
    ThumbnailURL: '{json:thumbnail_url}',
    DeletionURL: '{json:delete_page_url}',
  };
}

/** A file name made of the host's safe characters: "imagehost-example.org.sxcu". */
function fileName(host) {
  return `imagehost-${host.replace(/[^A-Za-z0-9.-]+/g, '-')}.sxcu`;
}

export function mountShareX() {
  const form = byId('sharex-form');
  const tokenRow = byId('sharex-token-row');
  const tokenInput = byId('sharex-token');
  const error = h('p', { class: 'field-error', id: 'sharex-error', 'aria-live': 'polite' });
  tokenInput.setAttribute('aria-describedby', `${tokenInput.getAttribute('aria-describedby')} sharex-error`);
  tokenRow.append(error);
  let tokenRequired = false;

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = tokenInput.value.trim();
    if (tokenRequired && !token) {
      tokenInput.setAttribute('aria-invalid', 'true');
      error.textContent = 'Enter the upload token first: ShareX needs it to upload here.';
      tokenInput.focus();
      return;
    }
    tokenInput.removeAttribute('aria-invalid');
    error.textContent = '';
    const config = shareXConfig(location.origin, location.host, tokenRequired ? token : '');
    downloadText(fileName(location.host), `${JSON.stringify(config, null, 2)}\n`);
    announce('Downloaded the ShareX uploader.');
  });

  return {
    setLimits(limits) {
      tokenRequired = Boolean(limits && limits.upload_token_required);
      tokenRow.hidden = !tokenRequired;
    },
  };
}
