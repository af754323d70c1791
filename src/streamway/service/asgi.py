"""``streamway.service.asgi:app``: streamway's app built from the environment.

The default ``STREAMWAY_APP`` of the Lambda runtime; importing this module reads settings,
so library code imports :func:`~streamway.service.app.create_app` instead.
"""

from streamway.service.app import create_app

app = create_app()
