// The Upload view: the drop zone and file picker, and one row per file sent or refused.

import { uploadDirect, uploadImage } from '../api.js';
import { announce } from '../announce.js';
import { deleteWithConfirmation } from '../delete-image.js';
import { acceptAttribute, checkFile, describeLimits } from '../limits.js';
import { rememberUpload, setUploadToken, uploadToken } from '../storage.js';
import { UploadQueue } from '../upload-queue.js';
import { detailsFields } from './details-fields.js';
import { mountUploadDetails } from './upload-details.js';
import { albumOffer } from './album-offer.js';
import { UploadRow } from './upload-row.js';

const byId = (id) => document.getElementById(id);

// Uploads running at once; the rest wait their turn.
const PARALLEL_UPLOADS = 3;

export function mountUploadView() {
  const dropzone = byId('dropzone');
  const input = byId('file-input');
  const list = byId('upload-list');
  const listHead = byId('upload-list-head');
  const clearFinished = byId('clear-finished');
  const limitsText = byId('dropzone-limits');
  const tokenField = byId('upload-token-field');
  const tokenInput = byId('upload-token');

  let limits = null;
  const rows = new Map(); // UploadRow → its job (null for a file refused before sending)

  const ready = new Set(); // rows waiting for "Upload" (chosen while "Add details" is open)
  const details = mountUploadDetails(tokenField, { onSend: sendReady });

  const queue = new UploadQueue(async (file, options) => {
    // Straight to the bucket when the server offers it; through /upload otherwise.
    const send = limits && limits.direct_uploads ? uploadDirect : uploadImage;
    const response = await send(file, { ...options, token: uploadToken() });
    if (!rememberUpload(response)) {
      announce(`This browser would not remember ${file.name}; copy its link now to find it again.`, { urgent: true });
    }
    return response;
  }, PARALLEL_UPLOADS);

  const jobRows = new Map(); // job id → UploadRow

  function showJob(row, job) {
    const before = row.state;
    row.render({
      state: job.state,
      loaded: job.loaded,
      total: job.total,
      result: job.result,
      message: job.error && job.error.message,
      // A 401 is worth retrying once the right upload token is typed in.
      retryable: Boolean(job.error && (job.error.retryable || job.error.status === 401)),
    });
    if (before === job.state) return;
    if (job.state === 'done') announce(`Uploaded ${job.file.name}.`);
    if (job.state === 'failed') announce(`${job.file.name} was not uploaded: ${job.error.message}`, { urgent: true });
  }

  queue.addEventListener('change', ({ detail: job }) => {
    const row = jobRows.get(job.id);
    if (row) showJob(row, job);
  });

  const actions = {
    retry: (row) => queue.retry(rows.get(row)),
    cancel: (row) => queue.cancel(rows.get(row)),
    dismiss: (row) => removeRow(row, { focusNext: true }),
    remove: async (row) => {
      const { result } = rows.get(row);
      const deleted = await deleteWithConfirmation({
        name: result.name,
        title: row.file.name,
        token: result.delete_token,
        item: row.element,
        focusAfter: dropzone,
        showError: (message) => row.showError(message),
      });
      if (deleted) forget(row);
    },
  };

  function forget(row) {
    row.dispose();
    const job = rows.get(row);
    if (job) jobRows.delete(job.id);
    rows.delete(row);
    listHead.hidden = rows.size === 0;
    if (ready.delete(row)) details.setWaiting(ready.size);
  }

  function removeRow(row, { focusNext = false } = {}) {
    if (focusNext) {
      const neighbour = row.element.nextElementSibling || row.element.previousElementSibling;
      (neighbour ? neighbour.querySelector('button, a[href], input') : dropzone).focus();
    }
    row.element.remove();
    forget(row);
  }

  /** Check each file against the limits; queue the good ones, show the others as refused. */
  function addFiles(files) {
    const added = [];
    const jobs = [];
    for (const file of files) {
      const row = new UploadRow(file, actions);
      const problem = limits ? checkFile(file, limits) : null;
      if (problem) {
        rows.set(row, null);
        row.render({ state: 'refused', message: problem });
        announce(`${file.name} was not sent: ${problem}`, { urgent: true });
        added.push(row);
        continue;
      }
      if (details.isOpen()) {
        hold(row);
      } else {
        jobs.push(send(row, {}));
      }
      added.push(row);
    }
    details.setWaiting(ready.size);
    list.prepend(...added.map((row) => row.element));
    offerAlbum(jobs);
    listHead.hidden = rows.size === 0;
  }

  /** Several files sent together may become an album (album-offer.js). */
  function offerAlbum(jobs) {
    if (jobs.length > 1) byId('album-offers').prepend(albumOffer(queue, jobs).element);
  }

  /** Keep `row` until "Upload", with its own details starting from those for all files. */
  function hold(row) {
    const fields = detailsFields({ limits, values: details.fields().snapshot(), label: row.file.name });
    row.holdForDetails(fields);
    rows.set(row, null);
    ready.add(row);
    row.render({ state: 'ready' });
  }

  /** Queue `row`'s file with the upload form's text `fields`; returns its job. */
  function send(row, fields) {
    // add() reports the job's first state before returning it: show that state here.
    const job = queue.add(row.file, fields);
    rows.set(row, job);
    jobRows.set(job.id, row);
    showJob(row, job);
    return job;
  }

  /** "Upload": send every waiting file, with its own details if any were typed, else those for all files. */
  function sendReady() {
    const jobs = [];
    for (const row of ready) {
      jobs.push(send(row, (row.fields.touched() ? row.fields : details.fields()).uploadFields()));
    }
    offerAlbum(jobs);
    ready.clear();
    details.setWaiting(0);
    dropzone.focus();
  }

  dropzone.addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    addFiles([...input.files]);
    input.value = ''; // choosing the same file again must fire "change" again
  });

  clearFinished.addEventListener('click', () => {
    for (const row of [...rows.keys()]) {
      if (!['queued', 'uploading'].includes(row.state)) removeRow(row);
    }
    dropzone.focus();
  });

  tokenInput.value = uploadToken();
  tokenInput.addEventListener('input', () => setUploadToken(tokenInput.value.trim()));
  tokenField.addEventListener('submit', (event) => event.preventDefault());

  const pasteKey = byId('paste-key');
  if (/mac|iphone|ipad/i.test(navigator.userAgentData?.platform || navigator.platform || '')) pasteKey.textContent = '⌘';

  return {
    addFiles,
    setLimits(value) {
      limits = value;
      details.setLimits(value);
      if (limits) {
        limitsText.textContent = describeLimits(limits);
        input.accept = acceptAttribute(limits);
        tokenField.hidden = !limits.upload_token_required;
      } else {
        limitsText.textContent = 'Files are checked by the server when they arrive.';
      }
    },
    setDragging(dragging) {
      dropzone.classList.toggle('is-dragging', dragging);
    },
  };
}
