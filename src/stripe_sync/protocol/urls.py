"""Showing a URL without its secrets: the password of ``user:password@host`` and the values of
query parameters that carry credentials (``?password=…``, ``?sslpassword=…``, ``?token=…``)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"
_SECRET_QUERY = re.compile(r"((?:^|&)[^=&]*(?:password|secret|token|key)[^=&]*=)[^&]*", re.I)


def redact_url(url: str) -> str:
    """``postgresql://app:s3cret@db/x?sslpassword=p`` → ``postgresql://app:***@db/x?sslpassword=***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
    query = _SECRET_QUERY.sub(rf"\1{MASK}", parts.query)
    shown = url.replace(parts.netloc, netloc, 1) if netloc != parts.netloc else url
    return shown.replace(f"?{parts.query}", f"?{query}", 1) if query != parts.query else shown
