"""Function URLs on ``streamway local``: each function also answers on a port of its own,
as a Lambda function URL (payload format 2.0, RESPONSE_STREAM or BUFFERED, CORS, AWS_IAM)."""

from streamway.local.function_url.app import FunctionUrlApp
from streamway.local.function_url.config import UrlConfig, UrlSettings
from streamway.local.function_url.serving import PortDispatch, function_urls, listen, log_urls

__all__ = [
    "FunctionUrlApp",
    "PortDispatch",
    "UrlConfig",
    "UrlSettings",
    "function_urls",
    "listen",
    "log_urls",
]
