"""The route table: matches, 404s, 405s with Allow, HEAD served by GET."""

import pytest
from imagehost import handlers
from imagehost.errors import MethodNotAllowed, NotFound
from imagehost.router import Router
from imagehost.routes import ROUTES

router = Router(ROUTES)


@pytest.mark.parametrize(
    "method, path, handler, params",
    [
        ("POST", "/upload", handlers.upload, {}),
        ("GET", "/api/images", handlers.list_images, {}),
        ("GET", "/images", handlers.list_images, {}),
        ("HEAD", "/images", handlers.list_images, {}),
        ("GET", "/api/images/AbCdEfGhIjKlMnOp.png", handlers.get_image, {"name": "AbCdEfGhIjKlMnOp.png"}),
        ("HEAD", "/api/images/AbCdEfGhIjKlMnOp.png", handlers.get_image, {"name": "AbCdEfGhIjKlMnOp.png"}),
        ("DELETE", "/api/images/AbCdEfGhIjKlMnOp.png", handlers.delete_image, {"name": "AbCdEfGhIjKlMnOp.png"}),
        ("DELETE", "/api/images/..%2F..%2Fx", handlers.delete_image, {"name": "../../x"}),
        ("GET", "/api/limits", handlers.limits, {}),
        ("GET", "/api/health", handlers.health, {}),
    ],
)
def test_each_route_reaches_its_handler(method, path, handler, params):
    assert router.match(method, path) == (handler, params)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/upload/",
        "/api",
        "/api/",
        "/api/images/",
        "/api/images/a/b",
        "/images/AbCdEfGhIjKlMnOp.png",
        "/API/limits",
        "/api/limits/extra",
    ],
)
def test_an_unknown_path_is_not_found(path):
    with pytest.raises(NotFound):
        router.match("GET", path)


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("GET", "/upload", "POST"),
        ("DELETE", "/api/images", "GET, HEAD"),
        ("PUT", "/api/images/AbCdEfGhIjKlMnOp.png", "DELETE, GET, HEAD, PATCH"),
        ("POST", "/api/health", "GET, HEAD"),
    ],
)
def test_a_known_path_with_another_method_is_405_with_allow(method, path, allow):
    with pytest.raises(MethodNotAllowed) as raised:
        router.match(method, path)
    assert raised.value.headers == {"Allow": allow}
    assert raised.value.status == 405
