"""``GET /``: the page for people, one committed HTML file with its CSS and JavaScript inline.

No build step and nothing fetched from elsewhere: the Content-Security-Policy allows only
the page's own inline script and style (by hash) and requests back to the same origin, so
a stray external asset or an injected script would be refused by the browser, not just
avoided by us. Every URL in the page is relative (``streaming``, ``api/objects``,
``download/...``), so it works at ``/`` and under an API Gateway stage such as ``/dev/``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from starlette.responses import Response

router = APIRouter()

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@cache
def _page() -> tuple[bytes, dict[str, str]]:
    """The page and its headers, read and hashed once per process."""
    html = files("streamway.service").joinpath("static/index.html").read_text("utf-8")
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(hashes['script'])}",
            f"style-src {' '.join(hashes['style'])}",
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return html.encode(), {
        "content-security-policy": policy,
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
    }


@router.get("/", include_in_schema=False)
async def index() -> Response:
    body, headers = _page()
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)
