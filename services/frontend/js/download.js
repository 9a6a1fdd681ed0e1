// Saving text the page made (a ShareX uploader, an export of this browser's links) as a
// file: a Blob behind a temporary object URL and a click on an <a download>; nothing is
// sent anywhere.

/** Offer `text` as a download named `fileName` of MIME type `type`. */
export function downloadText(fileName, text, type = 'application/json') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has started from the click; the URL is only needed until then.
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
