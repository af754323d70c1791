"""Deploying streamway to AWS: the Lambda packager and the CDK stack (see docs/deploy.md).

Nothing here is imported when serving. ``aws_cdk`` is imported only by :mod:`.stack` and
:mod:`.synth`, and only from the ``deploy`` extra (``pip install 'streamway[deploy]'``), so
neither a server nor a Lambda bundle pays for it.
"""
