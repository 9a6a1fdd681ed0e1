"""What a person does on the page, as helpers for the browser tests."""

from __future__ import annotations

import base64
import json

from playwright.sync_api import Locator, Page, expect
from support.pictures import landscape


def picture(name: str, seed: int) -> dict:
    """A PNG file for the page, as Playwright's set_files takes it."""
    return {"name": name, "mimeType": "image/png", "buffer": landscape(seed)}


def a_file(name: str, data: bytes, mime_type: str = "image/png") -> dict:
    return {"name": name, "mimeType": mime_type, "buffer": data}


def choose_files(page: Page, files: list[dict]) -> None:
    """Click the drop zone (the "choose files" button) and pick `files` in the dialog."""
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Drop images here or choose files").click()
    chooser.value.set_files(files)


def _as_transferable(files: list[dict]) -> list[dict]:
    return [{"name": f["name"], "type": f["mimeType"], "data": base64.b64encode(f["buffer"]).decode()} for f in files]


# Builds a DataTransfer holding `files` in the page, as the browser does for a real drop or paste.
_DATA_TRANSFER = """
(files) => {
  const transfer = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], f.name, { type: f.type }));
  }
  return transfer;
}
"""


def start_dragging(page: Page, files: list[dict], over: str = "#dropzone") -> None:
    """Drag `files` into the window and over the element `over` (dragenter, dragover), without dropping."""
    page.evaluate(
        f"""([files, over]) => {{
        const transfer = ({_DATA_TRANSFER})(files);
        const target = document.querySelector(over);
        for (const type of ['dragenter', 'dragover']) {{
          target.dispatchEvent(new DragEvent(type, {{ bubbles: true, cancelable: true, dataTransfer: transfer }}));
        }}
        window.__dragged = transfer;
    }}""",
        [_as_transferable(files), over],
    )


def drop(page: Page, on: str = "#dropzone") -> None:
    """Drop what start_dragging() is dragging onto the element `on`."""
    page.evaluate(
        """(on) => {
        const target = document.querySelector(on);
        target.dispatchEvent(
            new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: window.__dragged }));
    }""",
        on,
    )


def paste(page: Page, files: list[dict]) -> None:
    """Paste `files` as Ctrl+V would after copying an image (a ClipboardEvent with files)."""
    page.evaluate(
        f"""(files) => {{
        const transfer = ({_DATA_TRANSFER})(files);
        document.dispatchEvent(
            new ClipboardEvent('paste', {{ clipboardData: transfer, bubbles: true, cancelable: true }}));
    }}""",
        _as_transferable(files),
    )


def press_where_it_stands(button: Locator) -> None:
    """Focus `button` without scrolling it into view and press Enter, as a screen reader
    activates a control: for a button whose coming into view starts something by itself,
    which a click's own scrolling would race. Fails (expect's timeout) if it never becomes
    enabled."""
    expect(button).to_be_enabled()
    button.evaluate("(button) => button.focus({ preventScroll: true })")
    expect(button).to_be_focused()
    button.page.keyboard.press("Enter")


def upload_row(page: Page, file_name: str) -> Locator:
    """The row of the upload list for `file_name`."""
    return page.locator(".upload").filter(has=page.locator(".upload__name", has_text=file_name))


def link_of(row: Locator) -> str:
    """The URL a finished upload row shows."""
    return row.locator(".link-field").input_value()


def stored_uploads(page: Page) -> list[dict]:
    """What the page keeps in localStorage about this browser's uploads."""
    return json.loads(page.evaluate("localStorage.getItem('imagehost.uploads.v1') || '[]'"))


def image_path(url: str) -> str:
    """The path /images/<name> of an image URL, to fetch it through the stack."""
    return "/images/" + url.rsplit("/images/", 1)[1]


_NATURAL_SIZE = """(src) => new Promise((resolve) => {
  const image = new Image();
  image.onload = () => resolve([image.naturalWidth, image.naturalHeight]);
  image.onerror = () => resolve(null);
  image.src = src;
})"""


def natural_size(page: Page, src: str) -> list[int] | None:
    """[width, height] the browser shows the image at `src` with, or None when it cannot
    decode it (a function, not a string predicate: the page's CSP forbids eval)."""
    return page.evaluate(_NATURAL_SIZE, src)
