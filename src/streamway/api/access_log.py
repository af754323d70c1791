"""The access log's fields: one JSON object per request, named as streamway names them and
filled from API Gateway's ``$context`` variables.

The deploy stack writes this map as the stage's access log format, and ``streamway local``
writes its lines under the same names, so a query written for one log works on the other.
The four ``integration`` variables are what response streaming added: BUFFERED or STREAMED,
and how long the headers and the first byte took to arrive from Lambda.
"""

from __future__ import annotations

ACCESS_LOG_FIELDS: dict[str, str] = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "responseTransferMode": "$context.integration.responseTransferMode",
    "timeToAllHeaders": "$context.integration.timeToAllHeaders",
    "timeToFirstContent": "$context.integration.timeToFirstContent",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "integrationError": "$context.integration.error",
    "errorMessage": "$context.error.message",
    "wafStatus": "$context.waf.status",
}

#: Filled in on AWS only: the local gateway has no WAF and no separate integration status.
AWS_ONLY_FIELDS = frozenset({"integrationStatus", "integrationError", "errorMessage", "wafStatus"})
