"""Moving around the page, and what holds on every view: the address follows the view,
no inline code, narrow screens, dark mode, keyboard focus."""

from __future__ import annotations

import re

from page_actions import choose_files, picture, upload_row
from playwright.sync_api import expect


def shows(page, view: str) -> None:
    heading = {"upload": "Upload images", "images": "Images"}[view]
    expect(page).to_have_url(re.compile(f"#{view}$"))
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=view.capitalize(), exact=True)).to_have_attribute("aria-current", "page")
    expect(page).to_have_title(f"{view.capitalize()} · imagehost")


def test_back_and_forward_switch_between_upload_and_images_and_reload_keeps_the_view(page):
    page.goto("/")
    expect(page.get_by_role("heading", name="Upload images")).to_be_visible()
    loads = []
    page.on("load", lambda _: loads.append(page.url))

    page.get_by_role("link", name="Images", exact=True).click()
    shows(page, "images")
    page.get_by_role("link", name="Upload", exact=True).click()
    shows(page, "upload")
    page.go_back()
    shows(page, "images")
    page.go_back()
    expect(page.get_by_role("heading", name="Upload images")).to_be_visible()
    page.go_forward()
    shows(page, "images")
    assert loads == [], "switching views must not reload the page"

    page.reload()
    shows(page, "images")


def test_switching_views_moves_focus_to_the_new_views_heading(page):
    page.goto("/#upload")
    page.get_by_role("link", name="Images", exact=True).focus()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Images", exact=True)).to_be_focused()


def test_the_page_has_no_inline_scripts_styles_or_event_handler_attributes(page):
    page.goto("/#upload")
    choose_files(page, [picture("inline.png", 50)])
    expect(upload_row(page, "inline.png").get_by_text("Uploaded")).to_be_visible()
    page.get_by_role("link", name="Images", exact=True).click()
    expect(page.locator("#mine-grid .card")).to_have_count(1)

    found = page.evaluate("""() => ({
        inlineScripts: [...document.scripts].filter((s) => !s.src).length,
        styleElements: document.querySelectorAll('style').length,
        styleAttributes: document.querySelectorAll('[style]').length,
        handlerAttributes: [...document.querySelectorAll('*')]
            .flatMap((el) => [...el.attributes].map((a) => a.name))
            .filter((name) => name.startsWith('on')),
    })""")
    assert found == {"inlineScripts": 0, "styleElements": 0, "styleAttributes": 0, "handlerAttributes": []}


def test_the_page_fits_a_360_px_wide_screen(open_page, stack):
    page = open_page(stack.base_url, viewport={"width": 360, "height": 740})
    page.goto("/#upload")
    choose_files(page, [picture("a-rather-long-name-for-a-small-screen.png", 51)])
    expect(upload_row(page, "a-rather-long-name-for-a-small-screen.png").get_by_text("Uploaded")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    page.get_by_role("link", name="Images", exact=True).click()
    expect(page.locator("#mine-grid .card")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_the_colours_follow_the_systems_dark_mode(open_page, stack):
    light = open_page(stack.base_url, color_scheme="light")
    dark = open_page(stack.base_url, color_scheme="dark")
    for page in (light, dark):
        page.goto("/#upload")
    background = "getComputedStyle(document.body).backgroundColor"

    assert light.evaluate(background) == "rgb(245, 246, 248)"
    assert dark.evaluate(background) == "rgb(15, 18, 23)"


def test_every_control_on_the_upload_view_is_reachable_with_tab(page):
    page.goto("/#upload")
    choose_files(page, [picture("tabbing.png", 52)])
    row = upload_row(page, "tabbing.png")
    expect(row.get_by_text("Uploaded")).to_be_visible()
    page.locator("body").focus()

    reached = []
    for _ in range(20):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                "document.activeElement.getAttribute('aria-label')"
                " || document.activeElement.textContent.replace(/\\s+/g, ' ').trim()"
            )
        )
    for control in (
        "Images",
        "Drop images here or choose files",  # named by all its text, hint and limits too
        "Clear finished",
        "Link to tabbing.png",
        "Copy URL for tabbing.png",
        "Copy BBCode for tabbing.png",
        "Open tabbing.png in a new tab",
        "Delete tabbing.png",
    ):
        assert any(name.startswith(control) for name in reached), (control, reached)
