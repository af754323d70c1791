"""``streamway serve``: the service on uvicorn, and the sample files of a first run."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from streamway.config import StoreSettings


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind. [default: 127.0.0.1, or STREAMWAY_HOST]")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            help="Port to listen on. [default: 8080, or STREAMWAY_PORT, AWS_LWA_PORT, PORT]"
        ),
    ] = None,
) -> None:
    """Run the service on uvicorn (model and store from STREAMWAY_* settings).

    See docs/configuration.md.
    """
    import uvicorn

    from streamway.config import ServeSettings, Settings
    from streamway.http.limits import BodyTimeout, ServerLimits
    from streamway.logs import configure_logging
    from streamway.service.app import create_app
    from streamway.service.errors import ApiError

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(serve=ServeSettings(**overrides))  # type: ignore[arg-type]
    configure_logging(settings.observability.log_level, settings.observability.log_format)
    _ensure_default_samples(settings.store)

    def body_stalled(timeout_s: float) -> ApiError:
        # Raised into whoever reads the body, like the size limit's 413: the error handler
        # answers it as JSON with the request id and logs it.
        return ApiError(
            408,
            "request_timeout",
            f"No part of the request body arrived for {timeout_s:g} s.",
            headers={"connection": "close"},
        )

    limits = ServerLimits.from_settings(settings.serve)
    head_timeout_body = json.dumps(
        {
            "error": {
                "code": "request_timeout",
                "message": f"The request head did not arrive within {limits.head_timeout_s:g} s.",
            }
        }
    ).encode()
    uvicorn.run(
        BodyTimeout(create_app(settings), timeout_s=limits.body_timeout_s, stalled=body_stalled),
        host=settings.serve.host,
        port=settings.serve.port,
        loop=settings.serve.loop,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        **limits.uvicorn_options(head_timeout_body),
    )


def _ensure_default_samples(settings: StoreSettings) -> None:
    """Fill the default store directory with sample files on a first run (docs/downloads.md)."""
    import logging

    from streamway.config import DEFAULT_STORE_URL
    from streamway.storage import local_directory
    from streamway.storage.samples import ensure_samples

    if settings.store_url != DEFAULT_STORE_URL:
        return
    directory = local_directory(settings.store_url)
    assert directory is not None
    for path in ensure_samples(directory):
        logging.getLogger("streamway.downloads").info(
            "wrote sample file", extra={"path": str(path), "bytes": path.stat().st_size}
        )
