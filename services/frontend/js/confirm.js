// The one confirmation dialog (<dialog id="confirm-dialog"> in index.html).

const dialog = () => document.getElementById('confirm-dialog');

/**
 * Ask before deleting `title`; resolves true for "Delete", false for Cancel or Escape.
 * Focus starts on Cancel, so a stray Enter does not delete, and returns where it was.
 */
export function confirmDelete(title) {
  const box = dialog();
  document.getElementById('confirm-text').textContent = `“${title}” will be removed from the server and its links will stop working. This cannot be undone.`;
  const ok = document.getElementById('confirm-ok');
  const cancel = document.getElementById('confirm-cancel');
  const opener = document.activeElement;

  return new Promise((resolve) => {
    const choose = (value) => () => box.close(value);
    const onOk = choose('delete');
    const onCancel = choose('cancel');
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    box.addEventListener('close', () => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(box.returnValue === 'delete');
    }, { once: true });
    box.returnValue = '';
    box.showModal();
    cancel.focus();
  });
}
