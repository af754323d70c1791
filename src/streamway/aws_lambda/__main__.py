"""``python -m streamway.aws_lambda``: the native Lambda runtime."""

from streamway.aws_lambda.runtime import main

main()
