"""A native AWS Lambda runtime for ASGI apps, with Runtime API response streaming."""
