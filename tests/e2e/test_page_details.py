"""Titles, descriptions, tags and expiry in a real browser against the real stack: typed
with an upload, shown on the rows and cards, changed with a card's Edit form, hostile
text shown as text, search and tag filters in both lists, and the owner's overview."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from page_actions import choose_files, picture, press_where_it_stands, stored_uploads, upload_row
from playwright.sync_api import expect
from support.client import bearer, upload
from support.images import multipart
from support.pictures import landscape

PAGE_SIZE = 24  # what the page asks for per request (js/views/all-images.js)


def uploaded_with(stack, seed: int, filename: str, **fields: str) -> dict:
    """Upload a picture over HTTP with the form's text fields; the 201 answer."""
    parts = [(name, None, None, value.encode()) for name, value in fields.items()]
    body = multipart([*parts, ("file", filename, "image/png", landscape(seed, 96, 64))])
    reply = upload(stack.base_url, body)
    assert reply.status == 201, reply.body
    return reply.json()


def remember_in_page(page, answers: list[dict]) -> None:
    """Make `answers` this browser's uploads (as the page stores them) and show Images."""
    page.goto("/#images")
    page.evaluate("(list) => localStorage.setItem('imagehost.uploads.v1', JSON.stringify(list))", answers)
    page.reload()


def open_details(page) -> None:
    """Open "Add details" under the drop zone."""
    page.locator("#upload-details summary").click()


def unlock_all_images(page, stack) -> None:
    page.goto("/#images")
    page.get_by_placeholder("Admin token").fill(stack.admin_token)
    page.get_by_role("button", name="Show all images").click()
    expect(page.get_by_role("button", name="Forget admin token")).to_be_visible()


def cards(page, grid: str):
    return page.locator(f"{grid} .card")


def card(page, title: str, grid: str = "#mine-grid"):
    return page.locator(f"{grid} .card").filter(has=page.locator(".card__name", has_text=title))


def names_in(page, grid: str) -> list[str]:
    return cards(page, grid).evaluate_all("cards => cards.map((card) => card.dataset.name)")


def listed(stack, query: str) -> list[str]:
    """The names GET /api/images?<query> lists (first page of 100)."""
    return [item["name"] for item in stack.get(f"/api/images?limit=100&{query}", headers=stack.admin()).json()["items"]]


# --- details with the upload ---------------------------------------------------------


def test_details_for_all_files_are_sent_with_each_upload_and_shown_on_rows_and_cards(page, stack):
    page.goto("/#upload")
    open_details(page)
    page.get_by_label("Title (all files)").fill("Harbour at dusk")
    page.get_by_label("Description (all files)").fill("Boats coming home.")
    page.get_by_label("Tags (all files)").fill("Harbour, Evening Light")
    expect(page.locator("#upload-details .chip")).to_have_text(["harbour", "evening-light"])
    page.get_by_label("Delete after (all files)").select_option(label="1 day")

    choose_files(page, [picture("boat-1.png", 1), picture("boat-2.png", 2)])
    expect(upload_row(page, "boat-1.png")).to_have_attribute("data-state", "ready")
    page.get_by_role("button", name="Upload 2 files").click()

    for name in ("boat-1.png", "boat-2.png"):
        row = upload_row(page, name)
        expect(row.get_by_text("Uploaded")).to_be_visible()
        expect(row.locator(".upload__title")).to_have_text("Harbour at dusk")
        expect(row.locator(".chip")).to_have_text(["harbour", "evening-light"])
    stored = stored_uploads(page)
    assert {(s["title"], s["description"], tuple(s["tags"])) for s in stored} == {
        ("Harbour at dusk", "Boats coming home.", ("harbour", "evening-light"))
    }
    for record in stored:
        left = datetime.fromisoformat(record["expires_at"].replace("Z", "+00:00")) - datetime.now(UTC)
        assert timedelta(hours=23) < left <= timedelta(days=1, seconds=1)
        on_server = stack.get(f"/api/images/{record['name']}", headers=bearer(record["delete_token"])).json()
        assert on_server["title"] == "Harbour at dusk" and on_server["tags"] == ["harbour", "evening-light"]

    page.get_by_role("link", name="Images", exact=True).click()
    harbour = cards(page, "#mine-grid")
    expect(harbour.locator(".card__name")).to_have_text(["Harbour at dusk", "Harbour at dusk"])
    expect(harbour.first.locator(".chip")).to_have_text(["harbour", "evening-light"])


def test_one_waiting_file_can_have_its_own_details(page, stack):
    page.goto("/#upload")
    open_details(page)
    page.get_by_label("Tags (all files)").fill("shared")
    choose_files(page, [picture("plain.png", 3), picture("special.png", 4)])

    page.get_by_role("button", name="Add details to special.png").click()
    page.get_by_label("Title (special.png)").fill("The special one")
    page.get_by_label("Tags (special.png)").fill("own-tag")
    page.locator("#upload-details summary").click()  # closed again: the files still wait for Upload
    page.get_by_role("button", name="Upload 2 files").click()

    expect(upload_row(page, "special.png").locator(".upload__title")).to_have_text("The special one")
    expect(upload_row(page, "special.png").locator(".chip")).to_have_text(["own-tag"])
    expect(upload_row(page, "plain.png").get_by_text("Uploaded")).to_be_visible()
    expect(upload_row(page, "plain.png").locator(".chip")).to_have_text(["shared"])
    expect(upload_row(page, "plain.png").locator(".upload__title")).to_have_count(0)


def test_with_details_closed_a_file_is_sent_at_once_without_details(page, stack):
    page.goto("/#upload")
    choose_files(page, [picture("quick.png", 5)])

    expect(upload_row(page, "quick.png").get_by_text("Uploaded")).to_be_visible()
    [stored] = stored_uploads(page)
    assert (stored["title"], stored["tags"], stored["expires_at"]) == ("", [], None)


def test_the_expiry_choices_are_those_the_server_allows_with_its_default_chosen(stack_factory, open_page):
    limited = stack_factory(MAX_EXPIRY="7d", DEFAULT_EXPIRY="1d")
    page = open_page(limited.base_url)
    page.goto("/#upload")
    open_details(page)

    expiry = page.get_by_label("Delete after (all files)")
    expect(expiry.locator("option")).to_have_text(["1 hour", "1 day", "7 days"])
    expect(expiry).to_have_value("1d")


# --- the Edit form ---------------------------------------------------------------------


def test_editing_a_card_in_my_uploads_saves_the_details_and_updates_the_card(page, stack):
    answer = uploaded_with(stack, 10, "edit-me.png")
    remember_in_page(page, [answer])

    mine = page.locator(f'#mine-grid .card[data-name="{answer["name"]}"]')
    mine.get_by_role("button", name="Edit edit-me.png").click()
    mine.get_by_label("Title", exact=True).fill("Edited title")
    mine.get_by_label("Description", exact=True).fill("Now with words.")
    mine.get_by_label("Tags", exact=True).fill("first, Second Tag")
    mine.get_by_role("button", name="Save").click()

    expect(mine.locator(".card__name")).to_have_text("Edited title")
    expect(mine.locator(".card__tags .chip")).to_have_text(["first", "second-tag"])
    expect(mine.locator(".edit-form")).to_have_count(0)
    on_server = stack.get(f"/api/images/{answer['name']}", headers=bearer(answer["delete_token"])).json()
    assert (on_server["title"], on_server["description"], on_server["tags"]) == (
        "Edited title",
        "Now with words.",
        ["first", "second-tag"],
    )
    [stored] = stored_uploads(page)
    assert (stored["title"], stored["tags"]) == ("Edited title", ["first", "second-tag"])


def test_a_refused_edit_shows_the_servers_message_next_to_the_field(page, stack):
    answer = uploaded_with(stack, 11, "refused-edit.png", title="Kept title")
    refusal = stack.request(
        "PATCH",
        f"/api/images/{answer['name']}",
        json.dumps({"tags": ["no/slashes"]}).encode(),
        {**bearer(answer["delete_token"]), "Content-Type": "application/json"},
    )
    assert refusal.status == 400
    remember_in_page(page, [answer])

    mine = card(page, "Kept title")
    mine.get_by_role("button", name="Edit Kept title").click()
    mine.get_by_label("Tags", exact=True).fill("no/slashes")
    mine.get_by_role("button", name="Save").click()

    tags_error = (
        mine.locator(".details__field").filter(has=page.get_by_label("Tags", exact=True)).locator(".field-error")
    )
    expect(tags_error).to_have_text(refusal.json()["error"]["message"])
    expect(mine.get_by_label("Tags", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(mine.locator(".edit-form")).to_be_visible()
    on_server = stack.get(f"/api/images/{answer['name']}", headers=bearer(answer["delete_token"])).json()
    assert (on_server["title"], on_server["tags"]) == ("Kept title", [])


def test_editing_an_image_deleted_meanwhile_shows_the_servers_answer_under_the_form(page, stack):
    answer = uploaded_with(stack, 13, "deleted-meanwhile.png")
    remember_in_page(page, [answer])
    mine = page.locator(f'#mine-grid .card[data-name="{answer["name"]}"]')
    mine.get_by_role("button", name="Edit deleted-meanwhile.png").click()
    mine.get_by_label("Title", exact=True).fill("Too late")
    path = f"/api/images/{answer['name']}"
    assert stack.request("DELETE", path, headers=bearer(answer["delete_token"])).status == 204

    mine.get_by_role("button", name="Save").click()

    answer_now = stack.request(
        "PATCH", path, b"{}", {**bearer(answer["delete_token"]), "Content-Type": "application/json"}
    )
    assert answer_now.status == 404
    expect(mine.locator(".edit-form > .field-error")).to_have_text(answer_now.json()["error"]["message"])
    expect(mine.locator(".edit-form .details .field-error:not(:empty)")).to_have_count(0)


def test_the_admin_edits_any_image_in_all_images(page, stack):
    answer = uploaded_with(stack, 12, "theirs-to-edit.png", tags="before-edit-x1")
    unlock_all_images(page, stack)

    theirs = page.locator(f'#all-grid .card[data-name="{answer["name"]}"]')
    theirs.get_by_role("button", name="Edit theirs-to-edit.png").click()
    theirs.get_by_label("Title", exact=True).fill("Renamed by the owner")
    theirs.get_by_role("button", name="Save").click()

    expect(theirs.locator(".card__name")).to_have_text("Renamed by the owner")
    assert stack.get(f"/api/images/{answer['name']}", headers=stack.admin()).json()["title"] == "Renamed by the owner"


# --- hostile text ----------------------------------------------------------------------

HTML_TITLE = "<img src=x id=injected><script>window.injected=1</script><b>bold</b>"
LONG_TITLE = "W" * 200
TWENTY_TAGS = [f"tag-{n:02d}-{'x' * 30}" for n in range(20)]


@pytest.mark.parametrize("width", [1280, 360])
def test_hostile_details_show_as_text_and_never_break_the_page(open_page, stack, width):
    page = open_page(stack.base_url, viewport={"width": width, "height": 800})
    hostile = [
        uploaded_with(stack, 20, "html.png", title=HTML_TITLE, description="<i>desc</i>"),
        uploaded_with(stack, 21, "rtl.png", title="invoice\u202egnp.exe", tags="abc"),
        uploaded_with(stack, 22, "long.png", title=LONG_TITLE, tags=",".join(TWENTY_TAGS)),
    ]
    remember_in_page(page, hostile)
    unlock_all_images(page, stack)

    for grid in ("#mine-grid", "#all-grid"):
        shown = page.locator(f'{grid} .card[data-name="{hostile[0]["name"]}"]')
        expect(shown.locator(".card__name")).to_have_text(HTML_TITLE)
        rtl = page.locator(f'{grid} .card[data-name="{hostile[1]["name"]}"]')
        # The server took the override out; what is left is shown as it is.
        expect(rtl.locator(".card__name")).to_have_text("invoicegnp.exe")
        long = page.locator(f'{grid} .card[data-name="{hostile[2]["name"]}"]')
        expect(long.locator(".card__name")).to_have_text(LONG_TITLE)
        expect(long.locator(".card__tags .chip")).to_have_count(8)
        expect(long.locator(".card__tags")).to_contain_text("+12 more")
    assert page.locator("#injected").count() == 0
    assert page.evaluate("window.injected") is None
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    # Every card keeps to its column: none is wider than the first one.
    widths = cards(page, "#mine-grid").evaluate_all("cards => cards.map((c) => c.getBoundingClientRect().width)")
    assert max(widths) - min(widths) < 1, widths


def test_hostile_details_typed_into_the_page_are_sent_as_text(page, stack):
    page.goto("/#upload")
    open_details(page)
    page.get_by_label("Title (all files)").fill(HTML_TITLE)
    page.get_by_label("Tags (all files)").fill(",".join(TWENTY_TAGS))
    choose_files(page, [picture("typed-hostile.png", 23)])
    page.get_by_role("button", name="Upload 1 file").click()

    row = upload_row(page, "typed-hostile.png")
    expect(row.locator(".upload__title")).to_have_text(HTML_TITLE)
    expect(row.locator(".chip")).to_have_count(20)
    assert page.locator("#injected").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_too_many_tags_typed_with_an_upload_show_the_servers_refusal_on_the_row(page, stack):
    too_many = [f"t{n}" for n in range(21)]
    refusal = uploaded_refusal(stack, tags=",".join(too_many))
    page.goto("/#upload")
    open_details(page)
    page.get_by_label("Tags (all files)").fill(",".join(too_many))
    choose_files(page, [picture("too-many-tags.png", 24)])
    page.get_by_role("button", name="Upload 1 file").click()

    row = upload_row(page, "too-many-tags.png")
    expect(row).to_have_attribute("data-state", "failed")
    expect(row.locator(".upload__status")).to_have_text(refusal)
    assert stored_uploads(page) == []


def uploaded_refusal(stack, **fields: str) -> str:
    """The server's message refusing an upload with these text fields."""
    parts = [(name, None, None, value.encode()) for name, value in fields.items()]
    reply = upload(stack.base_url, multipart([*parts, ("file", "x.png", "image/png", landscape(1, 96, 64))]))
    assert reply.status == 400, reply.body
    return reply.json()["error"]["message"]


# --- search and tags -------------------------------------------------------------------


def test_my_uploads_filters_by_words_and_tags_in_the_page(page, stack):
    answers = [
        uploaded_with(stack, 30, "a.png", title="Harbour at dawn", tags="sea,boats"),
        uploaded_with(stack, 31, "b.png", title="Harbour at night", tags="sea"),
        uploaded_with(stack, 32, "c.png", description="A quiet meadow", tags="green"),
    ]
    requests = []
    page.on("request", lambda request: requests.append(request.url) if "/api/images?" in request.url else None)
    remember_in_page(page, answers)
    mine = cards(page, "#mine-grid")
    expect(mine).to_have_count(3)

    page.get_by_label("Search my uploads").fill("harb")
    expect(mine.locator(".card__name")).to_have_text(["Harbour at night", "Harbour at dawn"])
    page.get_by_label("Search my uploads").fill("meadow")
    expect(mine).to_have_count(1)
    page.get_by_label("Search my uploads").fill("")
    expect(mine).to_have_count(3)

    card(page, "Harbour at dawn").get_by_role("button", name="Filter by tag sea").click()
    expect(mine.locator(".card__name")).to_have_text(["Harbour at night", "Harbour at dawn"])
    card(page, "Harbour at dawn").get_by_role("button", name="Filter by tag boats").click()
    expect(mine.locator(".card__name")).to_have_text(["Harbour at dawn"])
    expect(page.locator("#mine-count")).to_have_text("1 of 3 images uploaded from this browser match.")

    page.get_by_role("button", name="Stop filtering by tag boats").click()
    page.get_by_role("button", name="Stop filtering by tag sea").click()
    expect(mine).to_have_count(3)
    page.get_by_label("Search my uploads").fill("nothing-like-this")
    expect(page.get_by_text("None of your uploads match.")).to_be_visible()
    assert requests == [], "My uploads asked the server"


def test_all_images_asks_the_server_with_the_words_and_tags(page, stack):
    dawn = uploaded_with(stack, 40, "d.png", title="Lighthouse dawn", tags="coast-q1,north-q1")
    dusk = uploaded_with(stack, 41, "e.png", title="Lighthouse dusk", tags="coast-q1")
    uploaded_with(stack, 42, "f.png", title="Forest", tags="north-q1")
    listings = []
    page.on("request", lambda request: listings.append(request.url) if "/api/images?" in request.url else None)
    unlock_all_images(page, stack)

    page.get_by_label("Search all images").fill("lighthouse")
    expect(cards(page, "#all-grid")).to_have_count(2)
    assert sorted(names_in(page, "#all-grid")) == sorted([dawn["name"], dusk["name"]])
    assert names_in(page, "#all-grid") == listed(stack, "q=lighthouse")

    page.locator(f'#all-grid .card[data-name="{dawn["name"]}"]').get_by_role(
        "button", name="Filter by tag north-q1"
    ).click()
    expect(cards(page, "#all-grid")).to_have_count(1)
    assert names_in(page, "#all-grid") == [dawn["name"]]
    assert any("q=lighthouse" in url and "tag=north-q1" in url for url in listings), listings

    page.get_by_label("Search all images").fill("")
    expect(cards(page, "#all-grid")).to_have_count(2)
    assert sorted(names_in(page, "#all-grid")) == sorted(listed(stack, "tag=north-q1"))

    page.get_by_role("button", name="Stop filtering by tag north-q1").click()
    page.get_by_label("Search all images").fill("zzznothingmatches")
    expect(page.get_by_text("No images on this server match.")).to_be_visible()
    expect(page.locator("#all-empty")).to_be_hidden()


def test_load_more_keeps_the_filters(page, stack):
    for seed in range(PAGE_SIZE + 5):
        uploaded_with(stack, 500 + seed, f"paged-{seed:02d}.png", tags="paged-z9")
    uploaded_with(stack, 600, "unpaged.png")
    listings = []
    page.on("request", lambda request: listings.append(request.url) if "/api/images?" in request.url else None)
    unlock_all_images(page, stack)

    page.get_by_label("Search all images").fill("paged")
    page.get_by_label("Search all images").press("Enter")
    expect(cards(page, "#all-grid")).to_have_count(PAGE_SIZE)
    first_card = cards(page, "#all-grid").first
    first_card.get_by_role("button", name="Filter by tag paged-z9").click()
    expect(page.get_by_role("button", name="Stop filtering by tag paged-z9")).to_be_visible()
    expect(cards(page, "#all-grid")).to_have_count(PAGE_SIZE)

    press_where_it_stands(page.get_by_role("button", name="Load more"))
    expect(cards(page, "#all-grid")).to_have_count(PAGE_SIZE + 5)
    expect(page.locator("#load-more")).to_be_hidden()
    assert sorted(names_in(page, "#all-grid")) == sorted(listed(stack, "q=paged&tag=paged-z9"))
    continued = [url for url in listings if "cursor=" in url]
    assert continued and all("q=paged" in url and "tag=paged-z9" in url for url in continued), listings


# --- the owner's overview --------------------------------------------------------------


def test_the_overview_shows_the_servers_numbers_and_30_bars_with_the_admin_token(page, stack):
    uploaded_with(stack, 70, "counted.png")
    page.goto("/#images")
    expect(page.locator("#overview")).to_be_hidden()

    unlock_all_images(page, stack)
    overview = page.get_by_role("region", name="Overview")
    expect(overview).to_be_visible()
    stats = stack.get("/api/stats", headers=stack.admin()).json()
    values = overview.locator("dd").evaluate_all("dds => dds.map((dd) => Number(dd.dataset.value))")
    assert values[:2] == [stats["images"], stats["bytes_stored"]]
    # Free disk moves as anything on the machine writes; it is the server's figure of the moment.
    assert abs(values[2] - stats["disk_free_bytes"]) < 64 * 1024 * 1024
    expect(overview.locator("dd").first).to_have_text(str(stats["images"]))
    expect(overview.locator("rect.chart__bar")).to_have_count(30)
    today = stats["uploads_per_day"][-1]
    expect(overview.locator("rect.chart__bar").last).to_have_attribute("data-value", str(today["uploads"]))
    total = sum(day["uploads"] for day in stats["uploads_per_day"])
    chart = overview.get_by_role("img")
    expect(chart).to_have_attribute("aria-label", re.compile(rf"^{total} uploads? in the last 30 days"))
    overview.get_by_text("Show as a table").click()
    expect(overview.locator("tbody tr")).to_have_count(30)
    expect(overview.locator("tbody tr").last.locator("td")).to_have_text(str(today["uploads"]))

    page.get_by_role("button", name="Forget admin token").click()
    expect(page.locator("#overview")).to_be_hidden()
