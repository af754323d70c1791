"""Django (ASGI): a ``StreamingHttpResponse`` over an async iterator, in one module."""

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="parity-tests-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402  (after settings)
from django.http import HttpRequest, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

from tests.local.parity.produce import HEADER, MEDIA_TYPE, chunks  # noqa: E402


def stream(request: HttpRequest) -> StreamingHttpResponse:
    body = chunks(request.GET.get("gate"), "fail" in request.GET)
    response = StreamingHttpResponse(body, content_type=MEDIA_TYPE)
    response[HEADER[0]] = HEADER[1]
    return response


urlpatterns = [path("stream", stream)]
app = get_asgi_application()
