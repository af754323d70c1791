"""Whether AWS credentials are available, asked of botocore's own credential chain.

``streamway deploy`` asks first, before packaging or synthesizing (minutes of work), so a
machine without credentials gets one plain sentence instead of a CDK stack trace at the end.
"""

from __future__ import annotations


class NoCredentials(RuntimeError):
    """botocore's chain found no credentials."""


def require_credentials(profile: str | None = None) -> str:
    """The method botocore found credentials by (``env``, ``shared-credentials-file``,
    ``sso``, ``iam-role``...); raises :class:`NoCredentials` when there are none."""
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session(profile=profile)
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as error:  # e.g. a named profile that is missing
        raise NoCredentials(f"cannot read AWS credentials: {error}") from error
    if credentials is None:
        raise NoCredentials(
            "no AWS credentials found: botocore looked in the environment (AWS_ACCESS_KEY_ID, "
            "AWS_PROFILE), ~/.aws/credentials and ~/.aws/config (including SSO), and the "
            "container and instance metadata. Configure one of them (e.g. `aws configure` or "
            "`aws sso login`) and run `streamway deploy` again."
        )
    return str(credentials.method)
