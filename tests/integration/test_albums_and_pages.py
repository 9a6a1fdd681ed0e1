"""Albums, the public image view, and the /i/ and /a/ pages with their link cards,
through nginx."""

from __future__ import annotations

import base64
import re

import pytest
from support import labelled
from support.backend import UPLOAD_TOKEN
from support.images import png

UNKNOWN_ALBUM = "AbCdEfGhIjKlMnOp"
UNKNOWN_IMAGE = "AbCdEfGhIjKlMnOp.png"


def make_album(stack, images: list, **fields) -> dict:
    reply = labelled.send_json(stack, "POST", "/api/albums", {"images": images, **fields})
    assert reply.status == 201, reply.body
    return reply.json()


def album_names(stack, album_id: str) -> list[str]:
    return [image["name"] for image in stack.get(f"/api/albums/{album_id}").json()["images"]]


def owned(image: dict) -> dict:
    return {"name": image["name"], "delete_token": image["delete_token"]}


# --- albums ---------------------------------------------------------------------------------


def test_an_album_is_made_with_a_96_bit_id_a_token_and_its_images_in_order(stack):
    first, second = labelled.uploaded(stack, title="First"), labelled.uploaded(stack, filename="secret-name.png")
    reply = labelled.send_json(
        stack, "POST", "/api/albums", {"title": "Trip", "description": "Two", "images": [second["name"], owned(first)]}
    )
    assert reply.status == 201
    album = reply.json()
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", album["id"])
    assert len(base64.urlsafe_b64decode(album["id"])) == 12
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", album["album_token"])
    assert album["url"] == f"{stack.base_url}/a/{album['id']}" == reply.headers["Location"]
    assert (album["title"], album["description"]) == ("Trip", "Two")
    assert [image["name"] for image in album["images"]] == [second["name"], first["name"]]
    for image in album["images"]:
        assert "original_name" not in image and "sha256" not in image
        assert "delete_token" not in image
    shown = stack.get(f"/api/albums/{album['id']}")  # public: no token
    assert shown.status == 200
    assert shown.json() == {key: value for key, value in album.items() if key != "album_token"}


def test_album_ids_differ(stack):
    image = labelled.uploaded(stack)
    ids = {make_album(stack, [image["name"]])["id"] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize("album_id", [UNKNOWN_ALBUM, "short", "AbCdEfGhIjKlMnOpQ", "AbCdEfGh%2EjKlMnOp"])
def test_an_unknown_or_malformed_album_id_is_a_404(stack, album_id):
    reply = stack.get(f"/api/albums/{album_id}")
    assert reply.status == 404 and reply.error_code == "not_found"


@pytest.mark.parametrize(
    "body, says",
    [
        ({"images": []}, "at least one"),
        ({}, "'images' must be a list"),
        ({"images": "x.png"}, "'images' must be a list"),
        ({"images": [UNKNOWN_IMAGE]}, f"no image named '{UNKNOWN_IMAGE}'"),
        ({"images": ["../etc/passwd"]}, "is not an image name"),
        ({"images": [5]}, 'Each image is a name or {"name"'),
        ({"images": [{"name": UNKNOWN_IMAGE, "extra": 1}]}, 'Each image is a name or {"name"'),
        ({"images": [UNKNOWN_IMAGE] * 201}, "at most 200"),
        ({"images": [UNKNOWN_IMAGE], "title": "x" * 201}, "at most 200"),
        ({"images": [UNKNOWN_IMAGE], "owner": "me"}, "Unknown field 'owner'"),
    ],
    ids=lambda body: str(body)[:40] if isinstance(body, dict) else None,
)
def test_a_malformed_album_request_is_a_400_saying_why(stack, body, says):
    reply = labelled.send_json(stack, "POST", "/api/albums", body)
    assert reply.status == 400 and reply.error_code == "bad_request", reply.body
    assert says in reply.json()["error"]["message"]


def test_an_album_refuses_a_name_twice_and_a_delete_token_that_is_not_the_images(stack):
    image, other = labelled.uploaded(stack), labelled.uploaded(stack)
    for images, says in (
        ([image["name"], image["name"]], "in the list twice"),
        ([{"name": image["name"], "delete_token": other["delete_token"]}], "is not that image's"),
    ):
        reply = labelled.send_json(stack, "POST", "/api/albums", {"images": images})
        assert reply.status == 400 and says in reply.json()["error"]["message"]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_changing_or_deleting_an_album_needs_its_token(stack, method):
    image = labelled.uploaded(stack)
    album = make_album(stack, [owned(image)], title="Kept")
    path = f"/api/albums/{album['id']}"
    for token, status, code in (
        (None, 401, "unauthorized"),
        ("x" * 32, 403, "forbidden"),
        (image["delete_token"], 403, "forbidden"),  # an image's token is not the album's
    ):
        reply = labelled.send_json(stack, method, path, {"title": "Changed"}, token)
        assert (reply.status, reply.error_code) == (status, code)
    assert stack.get(path).json()["title"] == "Kept"
    assert stack.get(f"/images/{image['name']}").status == 200


@pytest.mark.parametrize("who", ["album token", "admin token"])
def test_the_album_token_or_the_admin_token_changes_an_albums_title_and_images(stack, who):
    a, b, c = (labelled.uploaded(stack) for _ in range(3))
    album = make_album(stack, [a["name"], b["name"]], title="Before", description="Kept")
    token = album["album_token"] if who == "album token" else stack.admin_token
    reply = labelled.send_json(
        stack, "PATCH", f"/api/albums/{album['id']}", {"title": "After", "images": [c["name"], a["name"]]}, token
    )
    assert reply.status == 200, reply.body
    assert (reply.json()["title"], reply.json()["description"]) == ("After", "Kept")
    assert album_names(stack, album["id"]) == [c["name"], a["name"]]


def test_deleting_an_album_keeps_its_images(stack):
    image = labelled.uploaded(stack)
    album = make_album(stack, [owned(image)])
    reply = stack.request(
        "DELETE", f"/api/albums/{album['id']}", headers={"Authorization": f"Bearer {album['album_token']}"}
    )
    assert reply.status == 204
    assert stack.get(f"/api/albums/{album['id']}").status == 404
    assert stack.get(f"/images/{image['name']}").status == 200


def test_deleting_an_album_with_its_images_deletes_only_those_given_with_their_delete_token(stack):
    mine, shown_by_name, patched_in = (labelled.uploaded(stack) for _ in range(3))
    album = make_album(stack, [owned(mine), shown_by_name["name"]])
    token = album["album_token"]
    patched = labelled.send_json(
        stack,
        "PATCH",
        f"/api/albums/{album['id']}",
        {"images": [mine["name"], shown_by_name["name"], owned(patched_in)]},
        token,
    )
    assert patched.status == 200  # `mine` by name now: it still belongs to the album
    reply = stack.request(
        "DELETE", f"/api/albums/{album['id']}?with_images=true", headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status == 204
    for image, status in ((mine, 404), (patched_in, 404), (shown_by_name, 200)):
        assert stack.get(f"/images/{image['name']}").status == status, image
        assert stack.get(f"/api/public/images/{image['name']}").status == status
    assert stack.stored_bytes(mine["name"]) is None


def test_a_with_images_that_is_not_true_or_false_is_a_400_and_deletes_nothing(stack):
    image = labelled.uploaded(stack)
    album = make_album(stack, [owned(image)])
    reply = stack.request(
        "DELETE",
        f"/api/albums/{album['id']}?with_images=yes",
        headers={"Authorization": f"Bearer {album['album_token']}"},
    )
    assert reply.status == 400 and "'with_images' must be true or false" in reply.json()["error"]["message"]
    assert stack.get(f"/api/albums/{album['id']}").status == 200


def test_an_image_deleted_leaves_its_albums_without_it(stack):
    kept, deleted = labelled.uploaded(stack), labelled.uploaded(stack)
    album = make_album(stack, [deleted["name"], kept["name"]])
    headers = {"Authorization": f"Bearer {deleted['delete_token']}"}
    assert stack.request("DELETE", f"/api/images/{deleted['name']}", headers=headers).status == 204
    assert album_names(stack, album["id"]) == [kept["name"]]


# --- the public image view ------------------------------------------------------------------


def test_the_public_view_of_an_image_has_no_original_name_or_hash_and_needs_no_token(stack):
    created = labelled.uploaded(stack, filename="my-home-address.png", title="Cat", tags="cat")
    reply = stack.get(f"/api/public/images/{created['name']}")
    assert reply.status == 200
    public = reply.json()
    assert "original_name" not in public and "sha256" not in public and "delete_token" not in public
    assert b"my-home-address" not in reply.body
    assert (public["name"], public["title"], public["tags"]) == (created["name"], "Cat", ["cat"])


@pytest.mark.parametrize("name, status, code", [(UNKNOWN_IMAGE, 404, "not_found"), ("nope", 400, "invalid_name")])
def test_the_public_view_of_an_unknown_or_malformed_name_is_refused(stack, name, status, code):
    reply = stack.get(f"/api/public/images/{name}")
    assert (reply.status, reply.error_code) == (status, code)


# --- the pages and their cards --------------------------------------------------------------


def card_tags(page: bytes) -> dict[str, str]:
    """The Open Graph and Twitter tags of the page's head: {property or name: content}."""
    text = page.decode("utf-8")
    head = text[text.index("<head>") : text.index("</head>")]
    return dict(re.findall(r'<meta (?:property|name)="((?:og|twitter):[^"]+)" content="([^"]*)">', head))


def test_the_image_page_is_html_with_the_images_card_in_its_head(stack):
    created = labelled.uploaded(stack, title="A black cat", description="On a mat")
    reply = stack.get(f"/i/{created['name']}")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/html")
    tags = card_tags(reply.body)
    assert tags["og:title"] == tags["twitter:title"] == "A black cat"
    assert tags["og:description"] == "On a mat"
    assert tags["og:image"] == tags["twitter:image"] == created["url"]
    assert tags["og:url"] == f"{stack.base_url}/i/{created['name']}"
    assert (tags["og:image:width"], tags["og:image:height"]) == (str(created["width"]), str(created["height"]))
    assert tags["twitter:card"] == "summary_large_image"
    assert b"<title>A black cat \xc2\xb7 imagehost</title>" in reply.body


def test_an_image_without_a_title_gets_a_card_saying_its_size_and_type(stack):
    created = labelled.uploaded(stack)
    tags = card_tags(stack.get(f"/i/{created['name']}").body)
    assert tags["og:title"] == "An image"
    assert tags["og:description"] == f"{created['width']} × {created['height']} · PNG"


def test_the_album_page_carries_the_albums_card_with_its_first_image(stack):
    first, second = labelled.uploaded(stack), labelled.uploaded(stack)
    album = make_album(stack, [first["name"], second["name"]], title="Holiday")
    reply = stack.get(f"/a/{album['id']}")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/html")
    tags = card_tags(reply.body)
    assert tags["og:title"] == "Holiday" and tags["og:description"] == "2 images"
    assert tags["og:image"] == first["url"] and tags["twitter:card"] == "summary_large_image"
    assert tags["og:url"] == album["url"]


@pytest.mark.parametrize("path", [f"/i/{UNKNOWN_IMAGE}", f"/a/{UNKNOWN_ALBUM}"])
def test_an_unknown_image_or_album_gets_the_page_without_card_tags(stack, path):
    reply = stack.get(path)
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/html")
    assert card_tags(reply.body) == {}
    assert b"<!--# include" not in reply.body and b'<script type="module" src="/js/main.js">' in reply.body


def test_a_deleted_images_page_loses_its_card(stack):
    created = labelled.uploaded(stack, title="Soon gone")
    assert card_tags(stack.get(f"/i/{created['name']}").body)["og:title"] == "Soon gone"
    headers = {"Authorization": f"Bearer {created['delete_token']}"}
    assert stack.request("DELETE", f"/api/images/{created['name']}", headers=headers).status == 204
    assert card_tags(stack.get(f"/i/{created['name']}").body) == {}


@pytest.mark.parametrize("path", ["/i/short.png", "/i/AbCdEfGhIjKlMnOp.exe", "/a/AbCdEfGhIjKlMnOpQ", "/a/"])
def test_a_page_path_that_is_no_name_or_id_is_a_404(stack, path):
    reply = stack.get(path)
    assert reply.status == 404 and reply.error_code == "not_found"


def test_the_cards_are_not_cached(stack):
    created = labelled.uploaded(stack)
    reply = stack.get(f"/api/cards/i/{created['name']}")
    assert reply.status == 200 and reply.headers["Cache-Control"] == "no-store"


def test_with_an_upload_token_making_an_album_needs_it_as_uploading_does(stack_factory):
    stack = stack_factory(UPLOAD_TOKEN=UPLOAD_TOKEN)
    reply = stack.upload(png(4, 4), token=UPLOAD_TOKEN)
    assert reply.status == 201, reply.body
    entry = [owned(reply.json())]

    without = labelled.send_json(stack, "POST", "/api/albums", {"images": entry})
    wrong = labelled.send_json(stack, "POST", "/api/albums", {"images": entry}, token="not-the-upload-token-0000")
    made = labelled.send_json(stack, "POST", "/api/albums", {"images": entry}, token=UPLOAD_TOKEN)

    assert (without.status, without.error_code) == (401, "unauthorized")
    assert (wrong.status, wrong.error_code) == (403, "forbidden")
    assert made.status == 201, made.body
