"""A literal route table: (method, path pattern) -> handler.

`Router.match()` returns the handler and the path parameters, or raises NotFound, or
MethodNotAllowed carrying the `Allow` header. HEAD is served wherever GET is (the worker
drops the body).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from .errors import MethodNotAllowed, NotFound

if TYPE_CHECKING:
    from .web import Response

# handler(request, app, **path_parameters) -> Response
Handler = Callable[..., "Response"]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # "/api/images/{name}": a {parameter} is one path segment
    handler: Handler


class Router:
    def __init__(self, routes: tuple[Route, ...]):
        self._routes = [(self._compile(route.pattern), route) for route in routes]

    @staticmethod
    def _compile(pattern: str) -> re.Pattern[str]:
        parts = re.split(r"\{(\w+)\}", pattern)
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
        return re.compile(regex)

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler for `method` on `path` and its decoded path parameters."""
        route, params = self.match_route(method, path)
        return route.handler, params

    def match_route(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for `method` on `path` and its decoded path parameters.

        Raises NotFound, or MethodNotAllowed (its `pattern` the path's route pattern)."""
        allowed: list[str] = []
        pattern = ""
        for regex, route in self._routes:
            found = regex.fullmatch(path)
            if not found:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, {k: unquote(v, errors="replace") for k, v in found.groupdict().items()}
            allowed.append(route.method)
            pattern = route.pattern
        if not allowed:
            raise NotFound()
        if "GET" in allowed:
            allowed.append("HEAD")
        refusal = MethodNotAllowed(sorted(set(allowed)))
        refusal.pattern = pattern
        raise refusal
