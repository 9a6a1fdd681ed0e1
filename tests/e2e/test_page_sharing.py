"""Sharing in a real browser against the real stack: the image page (/i/<name>), the album
page (/a/<id>), making albums from the Upload view and from My uploads, the copy menus'
page and file links, the ShareX uploader, the deletion link /#/delete/<name>/<token>, and
moving this browser's links to another by export and import."""

from __future__ import annotations

import json

from page_actions import choose_files, link_of, paste, picture, stored_uploads, upload_row
from playwright.sync_api import expect
from support.client import bearer
from support.pictures import landscape

HOSTILE_TITLE = '<img src=x onerror="document.title=1"><b>bold</b> \u202egnp.exe'
HOSTILE_DESCRIPTION = "<script>alert(1)</script>\nsecond line & <i>more</i>"


def uploaded(stack, file_name: str, seed: int, **labels) -> dict:
    """Upload a picture through the API, then give it `labels` (title, description, tags)."""
    reply = stack.upload(landscape(seed), file_name)
    assert reply.status == 201, reply.body
    image = reply.json()
    if labels:
        patched = stack.request(
            "PATCH",
            f"/api/images/{image['name']}",
            json.dumps(labels).encode(),
            {"Content-Type": "application/json", **bearer(image["delete_token"])},
        )
        assert patched.status == 200, patched.body
        image.update(patched.json())
    return image


def album_of(stack, *images: dict, **fields) -> dict:
    body = {"images": [{"name": i["name"], "delete_token": i["delete_token"]} for i in images], **fields}
    reply = stack.request("POST", "/api/albums", json.dumps(body).encode(), {"Content-Type": "application/json"})
    assert reply.status == 201, reply.body
    return reply.json()


def stored_albums(page) -> list[dict]:
    return json.loads(page.evaluate("localStorage.getItem('imagehost.albums.v1') || '[]'"))


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


# --- The image page --------------------------------------------------------------------


def test_the_image_page_shows_the_full_file_with_its_title_description_tags_and_facts(page, stack):
    image = uploaded(
        stack, "dusk.png", 40, title="Harbour at dusk", description="Boats.\nGulls.", tags=["sea", "evening"]
    )
    page.goto(f"/i/{image['name']}")

    expect(page.get_by_role("heading", level=1)).to_have_text("Harbour at dusk")
    expect(page).to_have_title("Harbour at dusk · imagehost")
    shown = page.locator("#image-body")
    picture_ = shown.get_by_role("img", name="Harbour at dusk")
    expect(picture_).to_have_attribute("src", f"/images/{image['name']}")
    expect(picture_).to_have_js_property("complete", True)
    assert picture_.evaluate("img => img.naturalWidth") == 240  # the file itself, not its preview
    expect(shown.locator(".image-page__description")).to_have_text("Boats.\nGulls.")
    expect(shown.get_by_role("list", name="Tags").get_by_role("listitem")).to_have_text(["sea", "evening"])
    expect(shown.locator(".facts")).to_contain_text("240 × 160")
    expect(shown.locator(".facts")).to_contain_text("PNG")
    expect(shown.locator(".facts time")).to_have_attribute("datetime", image["created_at"])

    page_link = f"{stack.base_url}/i/{image['name']}"
    expect(shown.get_by_role("textbox", name="Page link of Harbour at dusk")).to_have_value(page_link)
    expect(shown.get_by_role("textbox", name="File link of Harbour at dusk")).to_have_value(image["url"])
    shown.get_by_role("button", name="Copy page link of Harbour at dusk").click()
    assert clipboard(page) == page_link
    shown.get_by_role("button", name="Copy file link of Harbour at dusk").click()
    assert clipboard(page) == image["url"]


def test_an_image_page_for_an_unknown_name_says_the_image_is_gone(page):
    page.goto("/i/AAAAAAAAAAAAAAAAAAAAAA.png")
    expect(page.get_by_role("heading", level=1)).to_have_text("This image is gone")
    expect(page.locator("#image-body")).to_contain_text("It was deleted, it expired, or the link is mistyped.")


def test_the_tabs_of_an_image_page_lead_to_the_main_views(page, stack):
    image = uploaded(stack, "tabs.png", 41)
    page.goto(f"/i/{image['name']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Untitled image")

    page.get_by_role("link", name="Images", exact=True).click()
    expect(page).to_have_url(f"{stack.base_url}/#images")
    expect(page.get_by_role("heading", name="My uploads")).to_be_visible()
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Untitled image")


def test_an_image_pasted_on_an_album_page_is_uploaded_from_the_upload_view_at_its_own_address(page, stack):
    album = album_of(stack, uploaded(stack, "in-album.png", 68))
    page.goto(f"/a/{album['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Album")

    paste(page, [picture("pasted.png", 69)])
    expect(upload_row(page, "pasted.png").get_by_text("Uploaded")).to_be_visible()
    expect(page).to_have_url(f"{stack.base_url}/#upload")
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Album")


def test_hostile_titles_and_descriptions_show_as_text_on_the_image_and_album_pages(page, stack):
    image = uploaded(stack, "hostile.png", 42, title=HOSTILE_TITLE, description=HOSTILE_DESCRIPTION)
    assert "\u202e" not in image["title"]  # the server removes bidi overrides
    album = album_of(stack, image, title=HOSTILE_TITLE, description=HOSTILE_DESCRIPTION)

    for path in (f"/i/{image['name']}", f"/a/{album['id']}"):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(image["title"])
        expect(page.locator(".image-page__description")).to_have_text(image["description"])
        assert page.locator("main b, main i, main script, main img[src='x']").count() == 0
        assert page.evaluate("document.title") != "1"


# --- The album page --------------------------------------------------------------------


def test_the_album_page_shows_previews_that_link_to_each_image_page_and_its_copy_link(page, stack):
    first = uploaded(stack, "first.png", 43, title="First light")
    second = uploaded(stack, "second.png", 44)
    album = album_of(stack, first, second, title="A walk", description="Two views.")
    page.goto(f"/a/{album['id']}")

    expect(page.get_by_role("heading", level=1)).to_have_text("A walk")
    body = page.locator("#album-body")
    expect(body).to_contain_text("Two views.")
    expect(body).to_contain_text("2 images")
    expect(body.get_by_role("textbox", name="Album link of A walk")).to_have_value(album["url"])
    links = body.get_by_role("list", name="Images in A walk").get_by_role("link")
    expect(links).to_have_text(["First light", "Untitled image"])
    expect(links.first).to_have_attribute("href", f"/i/{first['name']}")
    preview = links.first.locator("img")
    expect(preview).to_have_js_property("complete", True)
    assert preview.evaluate("img => new URL(img.src).pathname").startswith("/images/previews/")

    body.get_by_role("button", name="Copy album link of A walk").click()
    assert clipboard(page) == album["url"]
    links.first.click()
    expect(page).to_have_url(f"{stack.base_url}/i/{first['name']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("First light")


def test_an_album_page_for_an_unknown_id_says_there_is_no_such_album(page):
    page.goto("/a/AAAAAAAAAAAAAAAA")
    expect(page.get_by_role("heading", level=1)).to_have_text("This album is gone")
    expect(page.locator("#album-body")).to_contain_text("No album has this address")


# --- Making albums ---------------------------------------------------------------------


def test_several_files_uploaded_as_an_album_get_one_album_link_once_all_are_uploaded(page, stack):
    page.goto("/#upload")
    choose_files(page, [picture("alone.png", 48)])  # one file alone is no album
    expect(upload_row(page, "alone.png").get_by_text("Uploaded")).to_be_visible()
    expect(page.locator(".album-offer")).to_have_count(0)
    page.get_by_role("button", name="Clear finished").click()
    page.evaluate("localStorage.clear()")

    choose_files(page, [picture("one.png", 45), picture("two.png", 46), picture("three.png", 47)])
    offer = page.locator(".album-offer")
    offer.get_by_label("Album title (optional)").fill("Three hills")
    offer.get_by_label("Upload these 3 files as an album").check()

    link = offer.get_by_role("textbox", name="Album link of Three hills")
    expect(link).to_be_visible()
    for name in ("one.png", "two.png", "three.png"):
        expect(upload_row(page, name).get_by_text("Uploaded")).to_be_visible()
    album_id = link.input_value().rsplit("/a/", 1)[1]
    album = stack.get(f"/api/albums/{album_id}").json()
    assert album["title"] == "Three hills"
    assert {image["name"] for image in album["images"]} == {upload["name"] for upload in stored_uploads(page)}
    [kept] = stored_albums(page)
    assert kept["id"] == album_id and kept["title"] == "Three hills" and kept["album_token"]

    offer.get_by_role("button", name="Copy album link of Three hills").click()
    assert clipboard(page) == link.input_value()


def test_images_ticked_in_my_uploads_become_an_album_listed_under_my_albums(page, stack):
    page.goto("/#upload")
    for seed, name in enumerate(["left.png", "middle.png", "right.png"], start=50):
        choose_files(page, [picture(name, seed)])
        expect(upload_row(page, name).get_by_text("Uploaded")).to_be_visible()
    page.get_by_role("link", name="Images", exact=True).click()

    make = page.get_by_role("button", name="Make an album")
    expect(make).to_be_disabled()
    page.get_by_label("Select left.png").check()
    page.get_by_label("Select right.png").check()
    expect(make).to_have_text("Make an album of 2")
    make.click()

    made = page.locator("#album-made").get_by_role("textbox", name="Album link of the new album")
    expect(made).to_be_visible()
    album = stack.get(f"/api/albums/{made.input_value().rsplit('/a/', 1)[1]}").json()
    by_name = {upload["original_name"]: upload["name"] for upload in stored_uploads(page)}
    assert [image["name"] for image in album["images"]] == [by_name["right.png"], by_name["left.png"]]
    expect(page.get_by_label("Select left.png")).not_to_be_checked()
    expect(page.locator("#albums-list").get_by_role("link", name="Album of 2 images")).to_have_attribute(
        "href", f"/a/{album['id']}"
    )


def test_deleting_an_album_keeps_its_images_unless_asked_to_delete_them_too(page, stack):
    kept = [uploaded(stack, f"kept-{n}.png", 55 + n) for n in range(2)]
    dropped = [uploaded(stack, f"dropped-{n}.png", 57 + n) for n in range(2)]
    first = album_of(stack, *kept, title="Keep images")
    second = album_of(stack, *dropped, title="Drop images")
    page.goto("/#images")
    records = [{**a, "count": 2, "images": [i["name"] for i in imgs]} for a, imgs in ((first, kept), (second, dropped))]
    page.evaluate("(albums) => localStorage.setItem('imagehost.albums.v1', JSON.stringify(albums))", records)
    page.reload()
    albums = page.locator("#albums-list")

    albums.get_by_role("button", name="Delete album Keep images").click()
    dialog = page.get_by_role("dialog", name="Delete this album?")
    expect(dialog).to_contain_text("Keep images")
    dialog.get_by_role("button", name="Delete").click()
    expect(albums.get_by_role("link", name="Keep images")).to_have_count(0)
    assert stack.get(f"/api/albums/{first['id']}").status == 404
    assert all(stack.get(f"/images/{image['name']}").status == 200 for image in kept)

    albums.get_by_role("button", name="Delete album Drop images").click()
    dialog.get_by_label("Delete its images too").check()
    dialog.get_by_role("button", name="Delete").click()
    expect(albums.get_by_role("listitem")).to_have_count(0)
    assert all(stack.get(f"/api/public/images/{image['name']}").status == 404 for image in dropped)
    assert stored_albums(page) == []


# --- Copy menus ------------------------------------------------------------------------


def test_the_upload_row_and_the_card_copy_both_the_image_page_link_and_the_file_link(page, stack):
    page.goto("/#upload")
    choose_files(page, [picture("both.png", 60)])
    row = upload_row(page, "both.png")
    expect(row.get_by_text("Uploaded")).to_be_visible()
    file_link = link_of(row)
    page_link = file_link.replace("/images/", "/i/")

    row.get_by_role("button", name="Copy Page link for both.png").click()
    assert clipboard(page) == page_link
    row.get_by_role("button", name="Copy URL for both.png").click()
    assert clipboard(page) == file_link

    page.get_by_role("link", name="Images", exact=True).click()
    card = page.locator("#mine-grid .card")
    card.get_by_role("button", name="Copy page link to both.png").click()
    assert clipboard(page) == page_link
    card.get_by_role("button", name="Copy link to both.png").click()
    assert clipboard(page) == file_link
    assert stack.get(page_link.removeprefix(stack.base_url)).status == 200


# --- ShareX ----------------------------------------------------------------------------


def sharex_download(page) -> dict:
    with page.expect_download() as download:
        page.get_by_role("button", name="Download ShareX uploader").click()
    assert download.value.suggested_filename.endswith(".sxcu")
    return json.loads(download.value.path().read_text())


def test_the_sharex_uploader_posts_the_file_field_and_reads_the_links_from_the_answer(page, stack):
    page.goto("/#upload")
    expect(page.get_by_label("Token for ShareX uploads")).to_be_hidden()
    host = stack.base_url.removeprefix("http://")
    assert sharex_download(page) == {
        "Version": "15.0.0",
        "Name": f"imagehost ({host})",
        "DestinationType": "ImageUploader, FileUploader",
        "RequestMethod": "POST",
        "RequestURL": f"{stack.base_url}/upload",
        "Body": "MultipartFormData",
        "FileFormName": "file",
        "URL": "{json:url}",
        "ThumbnailURL": "{json:thumbnail_url}",
        "DeletionURL": "{json:delete_page_url}",
    }
    answer = stack.upload(landscape(61), "sharex.png").json()
    assert {"url", "thumbnail_url", "delete_page_url"} <= answer.keys()


def test_the_sharex_uploader_carries_the_upload_token_typed_in_and_the_page_keeps_none(stack_factory, open_page):
    token = "sharex-token-for-the-browser-tests-0123"
    guarded = stack_factory(UPLOAD_TOKEN=token)
    page = open_page(guarded.base_url)
    page.goto("/#upload")
    field = page.get_by_label("Token for ShareX uploads")
    expect(field).to_be_visible()

    page.get_by_role("button", name="Download ShareX uploader").click()
    expect(page.locator("#sharex-error")).to_have_text("Enter the upload token first: ShareX needs it to upload here.")
    field.fill(token)
    config = sharex_download(page)
    assert config["Headers"] == {"Authorization": f"Bearer {token}"}
    stored = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert token not in stored


# --- The deletion link -----------------------------------------------------------------


def test_the_deletion_link_deletes_nothing_until_confirmed_and_takes_the_token_out_of_the_address(page, stack):
    image = uploaded(stack, "doomed.png", 62, title="Doomed")
    assert image["delete_page_url"] == f"{stack.base_url}/#/delete/{image['name']}/{image['delete_token']}"
    page.goto(image["delete_page_url"])

    expect(page.get_by_role("heading", level=1)).to_have_text("Delete an image?")
    body = page.locator("#delete-body")
    expect(body).to_contain_text("Doomed")
    expect(body.get_by_role("img", name="Preview of the image to delete")).to_have_js_property("complete", True)
    assert image["delete_token"] not in page.url
    assert page.url == f"{stack.base_url}/"
    assert stack.get(f"/images/{image['name']}").status == 200
    page.reload()  # opening it again (a prefetch, a reload) deletes nothing either
    assert stack.get(f"/images/{image['name']}").status == 200

    page.goto(image["delete_page_url"])
    page.get_by_role("button", name="Delete this image").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Image deleted")
    stack.assert_not_served(f"/images/{image['name']}")


def test_a_deletion_link_with_a_wrong_token_says_so_and_deletes_nothing(page, stack):
    image = uploaded(stack, "safe.png", 63)
    page.goto(f"/#/delete/{image['name']}/{'x' * 43}")
    expect(page.get_by_role("heading", level=1)).to_have_text("This deletion link does not work")
    expect(page.get_by_role("button", name="Delete this image")).to_have_count(0)
    assert stack.get(f"/images/{image['name']}").status == 200


def test_a_deletion_link_for_an_image_already_gone_says_so(page, stack):
    image = uploaded(stack, "gone.png", 64)
    assert stack.request("DELETE", f"/api/images/{image['name']}", headers=bearer(image["delete_token"])).status == 204
    page.goto(image["delete_page_url"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Already gone")


# --- Export and import -----------------------------------------------------------------


def export_file(page) -> dict:
    with page.expect_download() as download:
        page.get_by_role("button", name="Export my uploads").click()
    assert download.value.suggested_filename.startswith("imagehost-links-")
    return json.loads(download.value.path().read_text())


def import_file(page, data) -> None:
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Import a file").click()
    chooser.value.set_files(
        [{"name": "links.json", "mimeType": "application/json", "buffer": json.dumps(data).encode()}]
    )


def test_export_then_import_brings_uploads_and_albums_to_another_browser_without_duplicates(open_page, stack):
    first = open_page(stack.base_url)
    first.goto("/#upload")
    choose_files(first, [picture("moved-a.png", 65), picture("moved-b.png", 66)])
    first.get_by_label("Upload these 2 files as an album").check()
    expect(first.locator(".album-offer .link-field")).to_be_visible()
    first.get_by_role("link", name="Images", exact=True).click()
    exported = export_file(first)
    assert len(exported["uploads"]) == 2 and len(exported["albums"]) == 1

    second = open_page(stack.base_url)
    second.goto("/#images")
    import_file(second, exported)
    expect(second.locator("#import-status")).to_have_text("Added 2 uploads and 1 album.")
    expect(second.locator("#mine-grid .card")).to_have_count(2)
    expect(second.locator("#albums-list .albums__item")).to_have_count(1)
    assert sorted(u["name"] for u in stored_uploads(second)) == sorted(u["name"] for u in exported["uploads"])

    import_file(second, exported)
    expect(second.locator("#import-status")).to_have_text("Added 0 uploads and 0 albums. 3 entries were already here.")
    expect(second.locator("#mine-grid .card")).to_have_count(2)


def test_import_takes_only_well_formed_records_and_says_how_many_it_skipped(page, stack):
    good = uploaded(stack, "good.png", 67)
    record = {key: good[key] for key in ("name", "url", "delete_token", "size", "created_at")}
    record["thumbnail_url"] = "javascript:alert(1)"  # not a preview's address: the usual one is used
    junk = [
        {**record, "url": "javascript:alert(1)//images/" + good["name"]},
        {**record, "name": "../etc/passwd"},
        {**record, "delete_token": "<b>"},
        "not an object",
        None,
    ]
    page.goto("/#images")
    import_file(page, {"format": "imagehost-links", "version": 1, "uploads": [record, *junk], "albums": [{"id": "x"}]})
    expect(page.locator("#import-status")).to_have_text(
        "Added 1 upload and 0 albums. 6 entries were not valid and skipped."
    )
    [stored] = stored_uploads(page)
    assert stored["name"] == good["name"] and stored["thumbnail_url"] == good["thumbnail_url"]
    expect(page.locator("#mine-grid .card a[href^='javascript']")).to_have_count(0)

    import_file(page, {"some": "other file"})
    expect(page.locator("#import-status")).to_have_text(
        'This is not an export of imagehost links (it has no "uploads" list).'
    )
