"""streamway: stream HTTP responses from Python on AWS serverless."""

__version__ = "0.1.0"
