"""PostgreSQL URLs, as `run --db-url` and `history --store` take them."""
from __future__ import annotations

from urllib.parse import urlsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")
POSTGRES_URL_FORM = "postgresql://[user[:password]@]host[:port]/dbname"


def is_postgres_url(text: str | None) -> bool:
    return bool(text) and "://" in text and urlsplit(text).scheme in POSTGRES_SCHEMES
