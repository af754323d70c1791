"""A direct invocation of a plain handler (``InvokeWithResponseStream``, or any non-HTTP event).

No HTTP around it: the handler's bytes are the invocation's result as they are, streamed
without a prelude (the Runtime API's Content-Type is the handler's content type), or posted
whole in buffered mode. ASGI apps get such events through :class:`PassThrough` instead.
"""

from __future__ import annotations

from typing import Any

from streamway.aws_lambda.events.pass_through import PassThrough


class DirectInvoke(PassThrough):
    streams = True
    preludes = False

    def scope(self) -> dict[str, Any]:
        return {"type": "invoke", "aws.event": self.raw_event, "aws.context": self.context}
