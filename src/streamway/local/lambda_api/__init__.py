"""The Lambda API (``Invoke``, ``InvokeWithResponseStream``) on ``streamway local``'s port."""

from streamway.local.lambda_api.routes import LambdaApi

__all__ = ["LambdaApi"]
