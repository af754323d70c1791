"""botocore's and aiohttp's errors as the object store's own, for every S3 module.

The download store (s3.py), the upload store (s3_uploads.py) and its lease
(s3_upload_lease.py) make S3 calls; each wraps them in :func:`mapped_errors`, so the HTTP
layer sees :class:`ObjectNotFound`, :class:`StoreUnavailable`... and never a botocore class.
The upload modules also lose conditional writes on purpose (``If-None-Match: *``,
``If-Match``): ``lost`` names the error such a loss means to them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from streamway.storage.store import (
    ObjectChanged,
    ObjectNotFound,
    StoreError,
    StoreFailed,
    StoreUnavailable,
)

_NOT_FOUND = {"NoSuchKey", "NotFound", "404"}
_CHANGED = {"PreconditionFailed", "412"}
_UNAVAILABLE = {"SlowDown", "ServiceUnavailable", "503", "RequestTimeout", "InternalError"}
#: What S3 answers a conditional write that lost: 412, or 409 while another one is under way.
_LOST = {"PreconditionFailed", "ConditionalRequestConflict"}


@contextmanager
def mapped_errors(name: str, *, lost: type[StoreError] | None = None) -> Iterator[None]:
    """Turns botocore's and aiohttp's exceptions into the store's own; a lost conditional
    write into ``lost`` when given."""
    try:
        yield
    except StoreError:
        raise
    except ClientError as error:
        if lost is not None and _code(error) in _LOST:
            raise lost(name) from error
        raise store_error(name, error) from error
    except Exception as error:
        raise store_error(name, error) from error


def http_status(error: ClientError) -> int | None:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def store_error(key: str, error: Exception) -> StoreError:
    if isinstance(error, ClientError):
        code = _code(error)
        status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _NOT_FOUND or (status == "404" and code != "NoSuchBucket"):
            return ObjectNotFound(key)
        if code in _CHANGED or status == "412":
            return ObjectChanged(key)
        if code in _UNAVAILABLE or status == "503":
            return StoreUnavailable(f"S3 is unavailable: {code or status}")
        return StoreFailed(f"S3 refused {key!r}: {code or status}")
    # aiobotocore wraps aiohttp's connection errors in botocore's; OSError covers the rest.
    if isinstance(error, ConnectionError | HTTPClientError | TimeoutError | OSError):
        return StoreUnavailable(f"S3 cannot be reached: {error}")
    return StoreFailed(f"S3 failed on {key!r}: {error}")


def is_missing(error: StoreError) -> bool:
    """Whether S3 said the key (or the multipart upload, ``NoSuchUpload``) does not exist."""
    cause = error.__cause__
    if not isinstance(cause, ClientError):
        return False
    return (
        _code(cause) in {"NoSuchKey", "NotFound", "404", "NoSuchUpload"}
        or http_status(cause) == 404
    )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
