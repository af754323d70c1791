"""The stream a plain handler writes its response to: status and headers first, then the body.

The same idea as Node's ``awslambda.HttpResponseStream.from(stream, {statusCode, headers,
cookies})`` and the Rust runtime's ``StreamResponse`` with its ``MetadataPrelude``: the
status, the headers and the cookies are set while nothing was sent, leave as the HTTP prelude
with the first body bytes, and cannot change after that. In Python's terms (Starlette's and
aiohttp's ``StreamResponse``): attributes to set, then ``await stream.write(data)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping

from streamway.aws_lambda.sink import ResponseSink

TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
BYTES_CONTENT_TYPE = "application/octet-stream"


class HeadersAlreadySent(RuntimeError):
    """Status or headers changed after the first write sent them."""


class ResponseHeaders(MutableMapping[str, str]):
    """Response headers: case-insensitive names, ``add()`` for a repeated header.

    ``headers[name] = value`` replaces every value of ``name``; ``add(name, value)`` keeps
    the ones before (``set-cookie`` is the usual repeated one). Once the response started,
    every change raises :class:`HeadersAlreadySent`.
    """

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        self._sent = False
        for name, value in (initial or {}).items():
            self[name] = value

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        for item, value in self._items:
            if item == key:
                return value
        raise KeyError(name)

    def __setitem__(self, name: str, value: str) -> None:
        self._check()
        key = name.lower()
        self._items = [(item, old) for item, old in self._items if item != key]
        self._items.append((key, str(value)))

    def __delitem__(self, name: str) -> None:
        self._check()
        key = name.lower()
        kept = [(item, value) for item, value in self._items if item != key]
        if len(kept) == len(self._items):
            raise KeyError(name)
        self._items = kept

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(item for item, _ in self._items))

    def __len__(self) -> int:
        return len(dict.fromkeys(item for item, _ in self._items))

    def __repr__(self) -> str:
        return f"ResponseHeaders({self._items!r})"

    def add(self, name: str, value: str) -> None:
        """One more value for ``name``, after the ones it has."""
        self._check()
        self._items.append((name.lower(), str(value)))

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        return [value for item, value in self._items if item == key]

    def raw(self) -> list[tuple[bytes, bytes]]:
        """As ASGI sends them: (name, value) pairs of latin-1 bytes, repeats kept."""
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self._items]

    def _check(self) -> None:
        if self._sent:
            raise HeadersAlreadySent("the response started: its headers were sent")


class ResponseStream:
    """What ``async def handler(event, context, stream)`` writes its response to.

    Set ``status_code`` (200 unless set), ``headers`` (a mapping, or assign a dict),
    ``content_type`` and any ``set-cookie`` (``stream.headers.add("set-cookie", ...)``, sent
    as the prelude's ``cookies``), then ``await stream.write(data)`` as often as there is
    something to send; each write returns once the Runtime API connection took the bytes. The
    first write (or :meth:`start`) sends the status and headers; after it, changing them
    raises :class:`HeadersAlreadySent`. The response ends when the handler returns.

    A direct invocation (no HTTP event) has no status or headers: only ``content_type``
    counts, as the content type of the invocation's result. Once the caller is gone,
    ``write`` raises the :class:`OSError` the connection failed with, as an ASGI server's
    ``send()`` does.
    """

    def __init__(self, sink: ResponseSink) -> None:
        self._sink = sink
        self._status_code = 200
        self._headers = ResponseHeaders()
        self._started = False
        #: Why the response could not go on (the Runtime API connection failed), if so.
        self.lost: OSError | None = None

    @property
    def status_code(self) -> int:
        return self._status_code

    @status_code.setter
    def status_code(self, status: int) -> None:
        self._headers._check()
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"an HTTP status is an int from 100 to 599, not {status!r}")
        self._status_code = status

    @property
    def headers(self) -> ResponseHeaders:
        return self._headers

    @headers.setter
    def headers(self, headers: Mapping[str, str]) -> None:
        self._headers._check()
        self._headers = ResponseHeaders(headers)

    @property
    def content_type(self) -> str | None:
        return self._headers.get("content-type")

    @content_type.setter
    def content_type(self, content_type: str) -> None:
        self._headers["content-type"] = content_type

    @property
    def started(self) -> bool:
        """Whether status and headers were sent (by the first write, or :meth:`start`)."""
        return self._started

    async def start(self) -> None:
        """Sends status and headers now, before any body (the first write does otherwise)."""
        if self._started:
            return
        self._started = True
        self._headers._sent = True
        try:
            await self._sink.start(self._status_code, self._headers.raw())
        except OSError as error:
            self.lost = error
            raise

    async def write(self, data: bytes | bytearray | memoryview | str) -> None:
        """Sends ``data`` (a ``str`` as UTF-8); returns when the connection took it."""
        if isinstance(data, str):
            data = data.encode()
        elif not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"a response is written as bytes or str, not {type(data).__name__}")
        await self.start()
        if self.lost is not None:
            raise self.lost
        if data:
            try:
                await self._sink.write(bytes(data))
            except OSError as error:
                self.lost = error
                raise
