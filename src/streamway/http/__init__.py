"""HTTP helpers: header parsing and formatting without I/O, and the request-head limit
(an ASGI middleware) that `streamway serve` and `streamway local` share."""
