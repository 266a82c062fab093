"""Secrets out of what people read: URLs with their passwords masked.

Broker and store URLs carry credentials (``amqp://user:PASSWORD@host``,
``postgresql://user@host/db?password=…``); every log line, ``repr`` and state
file shows them through :func:`mask_url`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "****"
SECRET_QUERY_KEYS = frozenset({"password", "passwd", "secret", "token", "sig", "access_key"})
"""Query parameters that carry a credential (libpq ``password``, SAS ``sig``, S3 keys)."""


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo and any secret query value replaced."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # not a URL: it may be a secret itself
    netloc = _masked_netloc(parts.netloc)
    query = _masked_query(parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _masked_netloc(netloc: str) -> str:
    userinfo, at, host = netloc.rpartition("@")
    if not at:
        return netloc
    user, colon, password = userinfo.partition(":")
    if not colon or not password:
        return netloc
    return f"{user}:{MASK}@{host}"


def _masked_query(query: str) -> str:
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(key.lower() in SECRET_QUERY_KEYS for key, _ in pairs):
        return query
    masked = [(key, MASK if key.lower() in SECRET_QUERY_KEYS else value) for key, value in pairs]
    return urlencode(masked, safe="*/:")
