"""``GET /``: the page for people, one committed HTML file with its CSS and JavaScript inline.

No build step and nothing fetched from elsewhere: the Content-Security-Policy allows only
the page's own inline script and style (by hash) and requests back to the same origin, so
a stray external asset or an injected script would be refused by the browser, not just
avoided by us. tus-js-client (the upload button's tus client, vendored as
``static/tus.min.js`` with its licence, docs/page.md) is put inline into the page here, at
its marker, rather than served as a script of its own: the policy then stays hashes only.
A ``script-src 'self'`` would let any same-origin script run, an uploaded ``.js`` file
served by ``/download`` included; a hash of an external script needs CSP 3 with Subresource
Integrity, which not every browser honours. Every URL in the page is relative
(``streaming``, ``api/objects``, ``download/...``), so it works at ``/`` and under an API
Gateway stage such as ``/dev/``.
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
#: Where index.html wants tus-js-client; replaced by <script>static/tus.min.js</script>.
TUS_MARKER = "<!-- tus-js-client: static/tus.min.js goes here, inline (page.py) -->"


@cache
def _page() -> tuple[bytes, dict[str, str]]:
    """The page and its headers, read and hashed once per process."""
    static = files("streamway.service").joinpath("static")
    html = static.joinpath("index.html").read_text("utf-8")
    library = static.joinpath("tus.min.js").read_text("utf-8")
    if TUS_MARKER not in html or "</script" in library.lower():
        raise RuntimeError(
            "index.html lacks the tus-js-client marker, or the library would end its tag"
        )
    html = html.replace(TUS_MARKER, f"<script>{library}</script>", 1)
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
