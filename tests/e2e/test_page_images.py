"""The Images view in a real browser against the real stack: this browser's uploads, images
deleted elsewhere, deleting (and a refused delete), and the admin's paged list of all images."""

from __future__ import annotations

import re

import pytest
from page_actions import choose_files, image_path, picture, press_where_it_stands, stored_uploads, upload_row
from playwright.sync_api import expect
from support.client import bearer
from support.pictures import landscape

PAGE_SIZE = 24  # what the page asks for per request (js/views/all-images.js)


def upload_in_page(page, *names: str, seed: int = 0) -> None:
    """Upload pictures `names` one after the other from the Upload view."""
    page.goto("/#upload")
    for offset, name in enumerate(names):
        choose_files(page, [picture(name, seed + offset)])
        expect(upload_row(page, name).get_by_text("Uploaded")).to_be_visible()


def card(page, title: str, grid: str = "#mine-grid"):
    return page.locator(f"{grid} .card").filter(has=page.locator(".card__name", has_text=title))


def all_names(stack) -> list[str]:
    """Every image on the server, newest first, following the cursor."""
    names, cursor = [], None
    while True:
        query = f"?limit=100&cursor={cursor}" if cursor else "?limit=100"
        page = stack.get(f"/api/images{query}", headers=stack.admin()).json()
        names += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return names


def test_my_uploads_lists_this_browsers_uploads_newest_first(page):
    upload_in_page(page, "older.png", "newer.png", seed=30)
    page.get_by_role("link", name="Images", exact=True).click()

    expect(page.get_by_role("heading", name="My uploads")).to_be_visible()
    expect(page.locator("#mine-grid .card__name")).to_have_text(["newer.png", "older.png"])
    expect(page.locator("#mine-count")).to_have_text("2 images uploaded from this browser, newest first.")
    newer = card(page, "newer.png")
    thumbnail = newer.get_by_role("img", name="newer.png")
    expect(thumbnail).to_have_attribute("loading", "lazy")
    expect(thumbnail).to_have_js_property("complete", True)
    assert thumbnail.evaluate("img => img.naturalWidth") == 240
    expect(newer.locator(".card__meta").first).to_have_text(re.compile(r"^\d+(\.\d)? KiB · 240 × 160$"))
    [record] = [upload for upload in stored_uploads(page) if upload["original_name"] == "newer.png"]
    expect(newer.locator("time")).to_have_attribute("datetime", record["created_at"])
    expect(newer.get_by_role("button", name="Copy link to newer.png")).to_be_visible()
    expect(newer.get_by_role("button", name="Delete newer.png")).to_be_visible()


def test_with_no_uploads_my_uploads_says_how_to_start(page):
    page.goto("/#images")

    empty = page.locator("#mine-empty")
    expect(empty).to_contain_text("Nothing uploaded from this browser yet")
    empty.get_by_role("link", name="Upload images").click()
    expect(page.get_by_role("heading", name="Upload images")).to_be_visible()


def test_deleting_from_my_uploads_removes_the_card_and_the_file_then_answers_404(page, stack):
    upload_in_page(page, "unwanted.png", seed=40)
    path = image_path(stored_uploads(page)[0]["url"])
    page.goto("/#images")

    card(page, "unwanted.png").get_by_role("button", name="Delete unwanted.png").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    expect(card(page, "unwanted.png")).to_have_count(0)
    expect(page.locator("#announce-status")).to_contain_text("Deleted unwanted.png.")
    assert stack.get(path).status == 404
    assert stored_uploads(page) == []
    expect(page.locator("#mine-empty")).to_be_visible()


def test_cancelling_the_confirmation_keeps_the_image(page, stack):
    upload_in_page(page, "keeper.png", seed=41)
    page.goto("/#images")

    card(page, "keeper.png").get_by_role("button", name="Delete keeper.png").click()
    page.keyboard.press("Escape")

    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(card(page, "keeper.png")).to_be_visible()
    assert stack.get(image_path(stored_uploads(page)[0]["url"])).status == 200


def test_a_refused_delete_puts_the_card_back_with_the_servers_message(page, stack):
    upload_in_page(page, "stubborn.png", seed=42)
    [stored] = stored_uploads(page)
    wrong = "not-the-delete-token-for-this-image-0123456"
    refusal = stack.request("DELETE", f"/api/images/{stored['name']}", headers=bearer(wrong)).json()["error"]["message"]
    stored["delete_token"] = wrong
    page.evaluate("(list) => localStorage.setItem('imagehost.uploads.v1', JSON.stringify(list))", [stored])
    page.goto("/#images")
    page.reload()

    stubborn = card(page, "stubborn.png")
    stubborn.get_by_role("button", name="Delete stubborn.png").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    expect(stubborn.locator(".card__error")).to_have_text(refusal)
    expect(page.locator("#announce-alert")).to_contain_text(refusal)
    assert stack.get(image_path(stored["url"])).status == 200


def test_an_image_deleted_elsewhere_shows_as_gone_and_can_be_removed_from_the_list(page, stack):
    upload_in_page(page, "vanished.png", "staying.png", seed=43)
    vanished = next(upload for upload in stored_uploads(page) if upload["original_name"] == "vanished.png")
    deleted = stack.request("DELETE", f"/api/images/{vanished['name']}", headers=bearer(vanished["delete_token"]))
    assert deleted.status == 204
    page.goto("/#images")

    gone = card(page, "vanished.png")
    expect(gone).to_contain_text("Gone")
    expect(gone).to_contain_text("Deleted from the server")
    expect(card(page, "staying.png")).not_to_contain_text("Gone")
    gone.get_by_role("button", name="Remove vanished.png from the list").click()

    expect(gone).to_have_count(0)
    assert [upload["original_name"] for upload in stored_uploads(page)] == ["staying.png"]


def test_an_image_deleted_elsewhere_shows_as_gone_even_when_its_thumbnail_is_cached(page, stack):
    upload_in_page(page, "cached.png", seed=44)
    page.goto("/#images")
    thumbnail = card(page, "cached.png").get_by_role("img", name="cached.png")
    expect(thumbnail).to_have_js_property("complete", True)
    [cached] = stored_uploads(page)
    deleted = stack.request("DELETE", f"/api/images/{cached['name']}", headers=bearer(cached["delete_token"]))
    assert deleted.status == 204

    page.goto("/#upload")
    page.reload()  # a new page: the thumbnail now comes from the browser's cache
    page.get_by_role("link", name="Images", exact=True).click()

    expect(card(page, "cached.png")).to_contain_text("Deleted from the server")
    page.get_by_role("button", name="Remove gone images").click()
    expect(card(page, "cached.png")).to_have_count(0)
    assert stored_uploads(page) == []


@pytest.fixture
def many_images(stack):
    """More than two pages of images on the server, uploaded over HTTP."""
    for seed in range(2 * PAGE_SIZE + 5):
        assert stack.upload(landscape(100 + seed, 96, 64), f"bulk-{seed:02d}.png").status == 201
    return all_names(stack)


def test_the_admin_token_shows_all_images_page_by_page(page, stack, many_images):
    listings = []
    page.on("request", lambda request: listings.append(request.url) if "/api/images?" in request.url else None)
    page.goto("/#images")

    expect(page.locator("#all-grid")).to_be_hidden()
    page.get_by_placeholder("Admin token").fill(stack.admin_token)
    page.get_by_role("button", name="Show all images").click()

    cards = page.locator("#all-grid .card")
    expect(cards).to_have_count(PAGE_SIZE)
    # The second page on request: "Load more", far below the fold. Coming within 600 px of
    # the window would load it by itself, and so would a click's own scrolling, racing the
    # click (the button turns "Loading…" and jumps down); so it is pressed where it stands.
    more = page.get_by_role("button", name="Load more")
    assert more.bounding_box()["y"] > page.viewport_size["height"] + 600, "the button is not below the fold"
    press_where_it_stands(more)
    expect(cards).to_have_count(2 * PAGE_SIZE)
    # The rest by scrolling: the button coming into view loads the next page by itself.
    for _ in range(len(many_images) // PAGE_SIZE):
        shown = cards.count()
        if shown == len(many_images):
            break
        page.mouse.wheel(0, 20_000)
        expect(cards).not_to_have_count(shown)
    expect(cards).to_have_count(len(many_images))
    names = page.locator("#all-grid .card").evaluate_all("cards => cards.map((card) => card.dataset.name)")
    assert names == many_images
    expect(page.locator("#load-more")).to_be_hidden()
    assert sum("cursor=" in url for url in listings) >= 2, listings
    assert page.evaluate("sessionStorage.getItem('imagehost.admin-token')") == stack.admin_token


def test_the_admin_deletes_any_image_with_the_admin_token(page, stack):
    assert stack.upload(landscape(200, 96, 64), "someone-elses.png").status == 201
    page.goto("/#images")
    page.get_by_placeholder("Admin token").fill(stack.admin_token)
    page.keyboard.press("Enter")

    theirs = card(page, "someone-elses.png", grid="#all-grid")
    name = theirs.get_attribute("data-name")
    theirs.get_by_role("button", name="Delete someone-elses.png").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    expect(theirs).to_have_count(0)
    expect(page.locator("#announce-status")).to_contain_text("Deleted someone-elses.png.")
    stack.assert_not_served(f"/images/{name}")


def test_a_wrong_admin_token_shows_the_servers_message(page, stack):
    wrong = "this-is-not-the-admin-token-0000"
    refusal = stack.get("/api/images?limit=1", headers=bearer(wrong)).json()["error"]["message"]
    page.goto("/#images")

    page.get_by_placeholder("Admin token").fill(wrong)
    page.get_by_role("button", name="Show all images").click()

    expect(page.locator("#admin-error")).to_have_text(refusal)
    expect(page.locator("#all-grid")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('imagehost.admin-token')") is None


def test_the_admin_token_is_kept_for_this_tab_only(page, stack):
    page.goto("/#images")
    page.get_by_placeholder("Admin token").fill(stack.admin_token)
    page.get_by_role("button", name="Show all images").click()
    expect(page.get_by_role("button", name="Forget admin token")).to_be_visible()

    page.reload()
    expect(page.get_by_role("button", name="Forget admin token")).to_be_visible()
    expect(page.locator("#admin-form")).to_be_hidden()

    other_tab = page.context.new_page()
    other_tab.goto("/#images")
    expect(other_tab.locator("#admin-form")).to_be_visible()
    other_tab.close()

    page.get_by_role("button", name="Forget admin token").click()
    expect(page.locator("#admin-form")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('imagehost.admin-token')") is None


def test_a_public_gallery_lists_every_image_without_a_token_and_says_when_it_is_empty(stack_factory, open_page):
    public = stack_factory(GALLERY_PUBLIC="true")
    page = open_page(public.base_url)
    page.goto("/#images")

    expect(page.locator("#all-empty")).to_contain_text("No images on this server yet")
    expect(page.locator("#admin-form")).to_be_hidden()

    assert public.upload(landscape(300, 96, 64), "for-everyone.png").status == 201
    page.reload()
    everyone = card(page, "for-everyone.png", grid="#all-grid")
    expect(everyone).to_be_visible()
    expect(everyone.get_by_role("button", name=re.compile("^Delete"))).to_have_count(0)
    expect(page.get_by_role("button", name="Enter admin token")).to_be_visible()
