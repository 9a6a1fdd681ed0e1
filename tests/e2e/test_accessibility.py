"""axe-core (the reference implementation of the WCAG checks) on every view of the page, at
a desktop and a phone width, in light and dark: any violation of WCAG 2.0/2.1 A or AA, or
of axe's best practices, fails the test with every rule, impact and element that broke.

Every state of the page a person can reach is one line of VIEWS: a name and the steps that
bring a fresh page on the stack to it. A new view (albums, an image's own page) is one more
line. Each view is staged once and checked in all four variants by resizing and switching
the emulated color scheme on the same page.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from page_actions import a_file, choose_files, picture, start_dragging, stored_uploads, upload_row
from playwright.sync_api import Page, Route, expect
from support.stack import Stack

Axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe-playwright-python is not installed").Axe

# What is checked: WCAG 2.0 and 2.1, levels A and AA, and axe's best practices.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
# axe marks its check of WCAG 2.5.3 (Label in Name, level A) experimental, so the tags alone
# leave it out; it is asked for by name.
OPTIONS = {
    "runOnly": {"type": "tag", "values": TAGS},
    "rules": {"label-content-name-mismatch": {"enabled": True}},
    "resultTypes": ["violations"],
}
WIDTHS = (1280, 360)  # 360 px is below the page's 40rem breakpoint
SCHEMES = ("light", "dark")
HEIGHT = 800


def upload_pictures(page: Page, *names: str) -> None:
    """Upload pictures `names` one after the other from the Upload view."""
    page.goto("/#upload")
    for seed, name in enumerate(names):
        choose_files(page, [picture(name, seed)])
        expect(upload_row(page, name).get_by_text("Uploaded")).to_be_visible()


def upload_view(page: Page, stack: Stack) -> None:
    page.goto("/#upload")
    expect(page.locator("#dropzone-limits")).not_to_have_text("Checking what this server accepts…")


def finished_upload_row(page: Page, stack: Stack) -> None:
    upload_pictures(page, "finished.png")


def refused_upload_row(page: Page, stack: Stack) -> None:
    upload_view(page, stack)
    choose_files(page, [a_file("empty.png", b"")])
    expect(upload_row(page, "empty.png")).to_have_attribute("data-state", "refused")


def upload_the_server_refused(page: Page, stack: Stack) -> None:
    upload_view(page, stack)
    choose_files(page, [a_file("notes.png", b"plain text, not a picture\n" * 10)])
    expect(upload_row(page, "notes.png")).to_have_attribute("data-state", "failed")


def uploads_in_progress(page: Page, stack: Stack) -> None:
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)  # never answered: the rows stay as they are until the page closes

    page.route("**/upload", hold)
    upload_view(page, stack)
    choose_files(page, [picture(f"in-progress-{n}.png", n) for n in range(4)])
    expect(page.locator(".upload[data-state=uploading]")).to_have_count(3)
    expect(page.locator(".upload[data-state=queued]")).to_have_count(1)


def dragging_files_over_the_page(page: Page, stack: Stack) -> None:
    upload_view(page, stack)
    start_dragging(page, [picture("dragged.png", 1)])
    expect(page.locator("#drop-overlay")).to_be_visible()


def upload_token_required(page: Page, stack: Stack) -> None:
    """The stack needs no upload token; its answer at /api/limits is changed to say it does."""

    def requiring_a_token(route: Route) -> None:
        answer = route.fetch()
        route.fulfill(response=answer, json={**answer.json(), "upload_token_required": True})

    page.route("**/api/limits", requiring_a_token)
    upload_view(page, stack)
    expect(page.get_by_label("Upload token")).to_be_visible()


def limits_not_loaded(page: Page, stack: Stack) -> None:
    page.route("**/api/limits", lambda route: route.abort("connectionreset"))
    page.goto("/#upload")
    expect(page.locator("#banner")).to_be_visible()


def delete_confirmation(page: Page, stack: Stack) -> None:
    upload_pictures(page, "to-delete.png")
    upload_row(page, "to-delete.png").get_by_role("button", name="Delete to-delete.png").click()
    expect(page.get_by_role("dialog")).to_be_visible()


def images_with_no_uploads(page: Page, stack: Stack) -> None:
    page.goto("/#images")
    expect(page.locator("#mine-empty")).to_be_visible()
    expect(page.locator("#admin-form")).to_be_visible()


def images_with_uploads(page: Page, stack: Stack) -> None:
    upload_pictures(page, "harbour.png", "valley.png", "meadow.png")
    page.goto("/#images")
    expect(page.locator("#mine-grid .card")).to_have_count(3)


def images_with_one_deleted_elsewhere(page: Page, stack: Stack) -> None:
    upload_pictures(page, "kept.png", "deleted-elsewhere.png")
    [name] = [u["name"] for u in stored_uploads(page) if u["original_name"] == "deleted-elsewhere.png"]
    assert stack.request("DELETE", f"/api/images/{name}", headers=stack.admin()).status == 204
    page.goto("/#images")
    expect(page.locator("#mine-grid .card.is-gone")).to_have_count(1)


def all_images_with_the_admin_token(page: Page, stack: Stack) -> None:
    upload_pictures(page, "for-the-admin.png")
    page.goto("/#images")
    page.get_by_placeholder("Admin token").fill(stack.admin_token)
    page.get_by_role("button", name="Show all images").click()
    expect(page.get_by_role("button", name="Forget admin token")).to_be_visible()
    expect(page.locator("#all-grid .card").first).to_be_visible()


def a_wrong_admin_token(page: Page, stack: Stack) -> None:
    page.goto("/#images")
    page.get_by_placeholder("Admin token").fill("this-is-not-the-admin-token-0000")
    page.get_by_role("button", name="Show all images").click()
    expect(page.locator("#admin-error")).not_to_be_empty()


def upload_details_open(page: Page, stack: Stack) -> None:
    page.goto("/#upload")
    page.get_by_text("Add details", exact=True).first.click()
    expect(page.locator("details.upload-details[open]")).to_be_visible()


def _uploaded_with_details(page: Page, stack: Stack) -> dict:
    upload_pictures(page, "harbour.png")
    [stored] = [u for u in stored_uploads(page) if u["original_name"] == "harbour.png"]
    changes = b'{"title": "Harbour at dusk", "description": "Boats, lights.", "tags": ["sea", "evening"]}'
    headers = {"Authorization": f"Bearer {stored['delete_token']}", "Content-Type": "application/json"}
    assert stack.request("PATCH", f"/api/images/{stored['name']}", changes, headers).status == 200
    return stored


def an_image_page(page: Page, stack: Stack) -> None:
    stored = _uploaded_with_details(page, stack)
    page.goto(f"/i/{stored['name']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Harbour at dusk")


def an_album_page(page: Page, stack: Stack) -> None:
    stored = _uploaded_with_details(page, stack)
    body = f'{{"title": "Evenings", "images": ["{stored["name"]}"]}}'.encode()
    reply = stack.request("POST", "/api/albums", body, {"Content-Type": "application/json"})
    assert reply.status == 201, reply.body
    page.goto(f"/a/{reply.json()['id']}")
    expect(page.locator("#album-body .card")).to_have_count(1)


def a_deletion_link(page: Page, stack: Stack) -> None:
    stored = _uploaded_with_details(page, stack)
    page.goto(f"/#/delete/{stored['name']}/{stored['delete_token']}")
    expect(page.get_by_role("button", name="Delete this image")).to_be_visible()


# Every view of the page: (name, steps from a fresh page to it). One line per view.
VIEWS: list[tuple[str, Callable[[Page, Stack], None]]] = [
    ("upload", upload_view),
    ("upload-finished-row", finished_upload_row),
    ("upload-refused-row", refused_upload_row),
    ("upload-refused-by-the-server", upload_the_server_refused),
    ("upload-in-progress", uploads_in_progress),
    ("upload-dragging", dragging_files_over_the_page),
    ("upload-token-required", upload_token_required),
    ("upload-limits-not-loaded", limits_not_loaded),
    ("delete-confirmation", delete_confirmation),
    ("images-no-uploads", images_with_no_uploads),
    ("images-with-uploads", images_with_uploads),
    ("images-one-deleted-elsewhere", images_with_one_deleted_elsewhere),
    ("all-images-admin", all_images_with_the_admin_token),
    ("all-images-wrong-token", a_wrong_admin_token),
    ("upload-details-open", upload_details_open),
    ("image-page", an_image_page),
    ("album-page", an_album_page),
    ("deletion-link", a_deletion_link),
]


# Colours change with a short CSS transition; measured halfway, they would fail contrast.
# Bounded: a transition in content the browser skips drawing (content-visibility: auto,
# below the fold) never finishes.
_TRANSITIONS_DONE = """() => Promise.race([
  Promise.allSettled(document.getAnimations().filter((a) => a instanceof CSSTransition).map((a) => a.finished)),
  new Promise((resolve) => setTimeout(resolve, 2000)),
])"""


def describe(violations: list[dict]) -> list[str]:
    """One line per violation and one per element it was found on."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        lines.extend(
            f"    {', '.join(map(str, node['target']))}: {' '.join(node['failureSummary'].split())}"
            for node in violation["nodes"]
        )
    return lines


@pytest.mark.parametrize("reach", [pytest.param(steps, id=name) for name, steps in VIEWS])
def test_axe_finds_no_violation_at_either_width_in_light_or_dark(open_page, stack, reach):
    page = open_page(stack.base_url, viewport={"width": WIDTHS[0], "height": HEIGHT})
    reach(page, stack)
    axe = Axe()
    found = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            page.evaluate(_TRANSITIONS_DONE)
            results = axe.run(page, options=OPTIONS)
            violations = results.response["violations"]
            if violations:
                found.append(f"at {width} px, {scheme}:")
                found += describe(violations)
    assert not found, "axe-core found violations:\n" + "\n".join(found)
