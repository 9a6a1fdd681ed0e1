"""Bearer tokens: the upload token, the admin token and per-image delete tokens.

Delete tokens carry 192 random bits and are shown once, in the upload response; the
index keeps only their SHA-256 (a fast hash is enough for a random secret of that
size). Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .errors import Forbidden, Unauthorized

DELETE_TOKEN_BYTES = 24


def new_delete_token() -> str:
    return secrets.token_urlsafe(DELETE_TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


def matches_hash(given: str, token_hash: str | None) -> bool:
    return token_hash is not None and hmac.compare_digest(hash_token(given), token_hash)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None when absent.

    A header that is present but not a Bearer token counts as a wrong token.
    """
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


def is_admin(token: str | None, admin_token: str) -> bool:
    return bool(token and admin_token and same_secret(token, admin_token))


def require_upload_token(token: str | None, upload_token: str) -> None:
    """Raise Unauthorized/Forbidden unless uploads are open or `token` is the upload token."""
    if not upload_token:
        return
    if token is None:
        raise Unauthorized("Uploads on this server need a token: send 'Authorization: Bearer <upload token>'.")
    if not same_secret(token, upload_token):
        raise Forbidden("That upload token is not valid.")
