// Files arriving from anywhere on the window: dropped, or pasted with Ctrl/Cmd+V.

/** The files in a DataTransfer (drop or paste); [] if it holds none. */
function filesOf(transfer) {
  if (!transfer) return [];
  if (transfer.files && transfer.files.length > 0) return [...transfer.files];
  return [...(transfer.items || [])]
    .filter((item) => item.kind === 'file')
    .map((item) => item.getAsFile())
    .filter(Boolean);
}

function carriesFiles(event) {
  return Boolean(event.dataTransfer) && [...event.dataTransfer.types].includes('Files');
}

/**
 * Call `onFiles(files)` for files dropped on or pasted into the window, and
 * `onDragChange(true/false)` as a drag carrying files enters and leaves it.
 * Pasting text into a field is left alone.
 */
export function listenForFiles({ onFiles, onDragChange }) {
  // dragenter/dragleave fire for every child element crossed; count them to know when
  // the drag has really left the window.
  let depth = 0;
  const setDragging = (dragging) => {
    depth = dragging ? depth : 0;
    onDragChange(dragging);
  };

  window.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    if (depth === 1) setDragging(true);
  });
  window.addEventListener('dragover', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = 'copy';
  });
  window.addEventListener('dragleave', (event) => {
    if (!carriesFiles(event)) return;
    depth -= 1;
    if (depth <= 0) setDragging(false);
  });
  window.addEventListener('drop', (event) => {
    if (!carriesFiles(event)) return; // e.g. text dropped into a field
    event.preventDefault(); // or the browser would navigate away to the dropped file
    setDragging(false);
    const files = filesOf(event.dataTransfer);
    if (files.length > 0) onFiles(files);
  });
  document.addEventListener('paste', (event) => {
    const files = filesOf(event.clipboardData);
    if (files.length === 0) return;
    event.preventDefault();
    onFiles(files);
  });
}
