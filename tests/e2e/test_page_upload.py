"""The Upload view in a real browser against the real stack: picking, dropping and pasting
files, the checks made before sending, the server's refusals, retry, copy."""

from __future__ import annotations

import json
import re

from page_actions import (
    a_file,
    choose_files,
    drop,
    image_path,
    link_of,
    paste,
    picture,
    start_dragging,
    stored_uploads,
    upload_row,
)
from playwright.sync_api import expect
from support import images

NOT_AN_IMAGE = b"These are notes, not a picture.\n" * 4


def test_an_image_chosen_with_the_file_picker_is_uploaded_and_gets_its_links(page, stack):
    page.goto("/#upload")
    choose_files(page, [picture("harbour.png", 1)])

    row = upload_row(page, "harbour.png")
    expect(row.get_by_text("Uploaded")).to_be_visible()
    url = link_of(row)
    assert stack.get(image_path(url)).status == 200
    for snippet in ("URL", "Markdown", "HTML", "BBCode"):
        expect(row.get_by_role("button", name=f"Copy {snippet} for harbour.png")).to_be_visible()
    expect(row.get_by_role("link", name="Open harbour.png in a new tab")).to_have_attribute("href", url)
    expect(row.get_by_role("button", name="Delete harbour.png")).to_be_visible()
    expect(page.locator("#announce-status")).to_contain_text("Uploaded harbour.png.")


def test_the_upload_response_is_kept_in_local_storage(page, stack):
    page.goto("/#upload")
    choose_files(page, [picture("kept.png", 2)])
    expect(upload_row(page, "kept.png").get_by_text("Uploaded")).to_be_visible()

    [stored] = stored_uploads(page)
    assert set(stored) == {
        "name",
        "url",
        "thumbnail_url",
        "delete_token",
        "size",
        "width",
        "height",
        "created_at",
        "original_name",
        "type",
        "title",
        "description",
        "tags",
        "expires_at",
    }
    assert stored["original_name"] == "kept.png"
    assert stored["type"] == "image/png"
    assert (stored["width"], stored["height"]) == (240, 160)
    record = stack.get(f"/api/images/{stored['name']}", headers={"Authorization": f"Bearer {stored['delete_token']}"})
    assert record.status == 200


def test_a_dropped_image_is_uploaded_and_the_drop_zone_lights_up_while_dragging(page, stack):
    page.goto("/#upload")
    start_dragging(page, [picture("dropped.png", 3)])
    expect(page.locator("#dropzone")).to_have_class(re.compile(r"\bis-dragging\b"))
    drop(page)

    expect(page.locator("#dropzone")).not_to_have_class(re.compile(r"\bis-dragging\b"))
    row = upload_row(page, "dropped.png")
    expect(row.get_by_text("Uploaded")).to_be_visible()
    assert stack.get(image_path(link_of(row))).status == 200


def test_a_pasted_image_is_uploaded(page, stack):
    page.goto("/#upload")
    paste(page, [picture("pasted.png", 4)])

    row = upload_row(page, "pasted.png")
    expect(row.get_by_text("Uploaded")).to_be_visible()
    assert stack.get(image_path(link_of(row))).status == 200


def test_a_dropped_image_on_the_images_view_switches_to_upload_and_is_uploaded(page):
    page.goto("/#images")
    start_dragging(page, [picture("elsewhere.png", 5)], over="#mine-title")
    drop(page, on="#mine-title")

    expect(page).to_have_url(f"{page.url.split('#')[0]}#upload")
    expect(upload_row(page, "elsewhere.png").get_by_text("Uploaded")).to_be_visible()


def test_three_files_at_once_give_two_links_and_the_servers_message_for_the_fake_png(page, stack):
    refusal = stack.upload(NOT_AN_IMAGE, "notes.png").json()["error"]["message"]
    page.goto("/#upload")
    choose_files(page, [picture("first.png", 6), a_file("notes.png", NOT_AN_IMAGE), picture("second.png", 7)])

    for name in ("first.png", "second.png"):
        row = upload_row(page, name)
        expect(row.get_by_text("Uploaded")).to_be_visible()
        assert stack.get(image_path(link_of(row))).status == 200
    failed = upload_row(page, "notes.png")
    expect(failed.locator(".upload__status")).to_have_text(refusal)
    expect(failed.get_by_role("button", name="Retry")).to_have_count(0)  # a 415 will not change
    expect(page.locator(".link-field")).to_have_count(2)
    assert [upload["original_name"] for upload in stored_uploads(page)].count("notes.png") == 0


def test_a_6_MB_image_is_refused_before_anything_is_sent(page):
    uploads = []
    page.on("request", lambda request: uploads.append(request.url) if request.url.endswith("/upload") else None)
    page.goto("/#upload")
    choose_files(page, [a_file("huge.png", images.png_of_size(6 * 1024 * 1024))])

    refused = upload_row(page, "huge.png")
    expect(refused.locator(".upload__status")).to_have_text("This file is 6 MiB; the limit is 5 MiB.")
    expect(page.locator("#announce-alert")).to_contain_text("huge.png was not sent")
    # A good file afterwards is sent: the one request seen is its, none was made for huge.png.
    choose_files(page, [picture("small.png", 8)])
    expect(upload_row(page, "small.png").get_by_text("Uploaded")).to_be_visible()
    assert len(uploads) == 1


def test_a_text_file_is_sent_and_refused_with_the_servers_message_listing_the_accepted_types(page):
    page.goto("/#upload")
    choose_files(page, [a_file("notes.txt", NOT_AN_IMAGE, "text/plain")])

    expect(upload_row(page, "notes.txt").locator(".upload__status")).to_have_text(
        "That file is not an image we accept: PNG, JPEG, GIF, WebP or AVIF only."
    )


def test_the_drop_zone_names_the_accepted_types_as_the_server_does(page):
    page.goto("/#upload")
    expect(page.locator("#dropzone-limits")).to_have_text("PNG, JPEG, GIF, WebP or AVIF, up to 5 MiB each")


def test_a_jpeg_named_photo_heic_uploads_from_the_page_as_a_jpeg(page, stack):
    page.goto("/#upload")
    choose_files(page, [a_file("photo.heic", images.jpeg(64, 48), "image/heic")])

    row = upload_row(page, "photo.heic")
    expect(row.get_by_text("Uploaded")).to_be_visible()
    [stored] = stored_uploads(page)
    assert (stored["type"], stored["original_name"]) == ("image/jpeg", "photo.heic")
    assert stack.get(image_path(link_of(row))).status == 200


def test_a_heic_photo_is_sent_and_shows_the_servers_message_saying_what_to_send(page, stack):
    heic = images.ftyp(b"heic", b"mif1", b"heic") + images.box(b"mdat", bytes(64))
    refusal = stack.upload(heic, "IMG_0001.HEIC").json()["error"]["message"]
    assert refusal.startswith("HEIC/HEIF photos are not accepted: send a JPEG")
    page.goto("/#upload")
    choose_files(page, [a_file("IMG_0001.HEIC", heic, "image/heic")])

    failed = upload_row(page, "IMG_0001.HEIC")
    expect(failed.locator(".upload__status")).to_have_text(refusal)
    expect(failed.get_by_role("button", name="Retry")).to_have_count(0)


def test_at_most_three_uploads_run_at_once_and_the_rest_wait(page):
    held, released = [], []

    def hold(route):
        if released:
            route.continue_()
        else:
            held.append(route)

    page.route("**/upload", hold)
    page.goto("/#upload")
    choose_files(page, [picture(f"queued-{n}.png", 10 + n) for n in range(5)])

    expect(page.locator(".upload[data-state=uploading]")).to_have_count(3)
    # The three requests reach the route handler only while Playwright is called: wait here.
    for _ in range(150):
        if len(held) >= 3:
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(1000)  # time enough for a fourth request, were one sent
    assert len(held) == 3
    expect(page.locator(".upload[data-state=queued]")).to_have_count(2)
    expect(page.locator(".upload[data-state=queued] .upload__status").first).to_have_text("Waiting…")

    released.append(True)
    for route in held:
        route.continue_()
    expect(page.locator(".upload[data-state=done]")).to_have_count(5)


def test_a_server_error_offers_retry_and_the_retry_succeeds(page):
    answered = []

    def fail_once(route):
        if answered:
            route.continue_()
            return
        answered.append(route.request.url)
        busy = {"error": {"code": "unavailable", "message": "The service is busy. Try again in a moment."}}
        route.fulfill(status=503, content_type="application/json", body=json.dumps(busy))

    page.route("**/upload", fail_once)
    page.goto("/#upload")
    choose_files(page, [picture("busy.png", 20)])

    row = upload_row(page, "busy.png")
    expect(row.locator(".upload__status")).to_have_text("The service is busy. Try again in a moment.")
    row.get_by_role("button", name="Retry the upload of busy.png").click()
    expect(row.get_by_text("Uploaded")).to_be_visible()


def test_a_network_failure_offers_retry(page):
    page.route("**/upload", lambda route: route.abort("connectionreset"))
    page.goto("/#upload")
    choose_files(page, [picture("offline.png", 21)])

    row = upload_row(page, "offline.png")
    expect(row.locator(".upload__status")).to_have_text(
        "Could not reach the server. Check your connection and try again."
    )
    expect(row.get_by_role("button", name="Retry the upload of offline.png")).to_be_visible()


def test_copying_the_url_puts_it_on_the_clipboard_and_says_so(page):
    page.goto("/#upload")
    choose_files(page, [picture("copied.png", 22)])
    row = upload_row(page, "copied.png")
    expect(row.get_by_text("Uploaded")).to_be_visible()

    button = row.get_by_role("button", name="Copy URL for copied.png")
    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == link_of(row)
    expect(page.locator("#announce-status")).to_contain_text("Copied URL for copied.png.")

    row.get_by_role("button", name="Copy Markdown for copied.png").click()
    assert page.evaluate("navigator.clipboard.readText()") == f"![copied.png]({link_of(row)})"


def test_deleting_from_the_upload_list_removes_the_row_and_the_file(page, stack):
    page.goto("/#upload")
    choose_files(page, [picture("regret.png", 23)])
    row = upload_row(page, "regret.png")
    expect(row.get_by_text("Uploaded")).to_be_visible()
    path = image_path(link_of(row))

    row.get_by_role("button", name="Delete regret.png").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("regret.png")
    dialog.get_by_role("button", name="Delete").click()

    expect(row).to_have_count(0)
    expect(page.locator("#announce-status")).to_contain_text("Deleted regret.png.")
    assert stack.get(path).status == 404
    assert stored_uploads(page) == []


def test_the_drop_zone_opens_the_file_picker_from_the_keyboard(page):
    # Playwright turns on file chooser interception when someone listens; a key press is
    # quicker than expect_file_chooser() doing that, so listen from the start.
    page.on("filechooser", lambda chooser: None)
    page.goto("/#upload")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "dropzone":
            break
    assert page.evaluate("document.activeElement.matches(':focus-visible')")

    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files([picture("keyboard.png", 24)])
    expect(upload_row(page, "keyboard.png").get_by_text("Uploaded")).to_be_visible()
    with page.expect_file_chooser():
        page.keyboard.press("Space")


def test_a_server_that_wants_an_upload_token_asks_for_one_and_retry_sends_it(stack_factory, open_page):
    token = "upload-token-for-the-browser-tests-0123"
    guarded = stack_factory(UPLOAD_TOKEN=token)
    refusal = guarded.upload(images.png(), "no-token.png").json()["error"]["message"]
    page = open_page(guarded.base_url)
    page.goto("/#upload")

    field = page.get_by_label("Upload token")
    expect(field).to_be_visible()
    choose_files(page, [picture("guarded.png", 25)])
    row = upload_row(page, "guarded.png")
    expect(row.locator(".upload__status")).to_have_text(refusal)

    field.fill(token)
    row.get_by_role("button", name="Retry the upload of guarded.png").click()
    expect(row.get_by_text("Uploaded")).to_be_visible()
