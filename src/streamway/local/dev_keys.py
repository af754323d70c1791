"""A stand-in user pool for trying the JWT authorizer locally: a key pair, its JWKS, a token.

``streamway local --jwks DIR/jwks.json`` then accepts ``Authorization: Bearer $(cat
DIR/token.txt)``. The token looks like a Cognito ID token (``token_use: id``, ``aud`` =
the app client, ``cognito:username``), so the function sees the same claims it sees on AWS.
This is for development only: the private key sits unencrypted in ``DIR/key.pem``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEV_ISSUER = "https://cognito-idp.local.amazonaws.com/local_streamway"
DEV_CLIENT_ID = "streamway-local"


@dataclass(frozen=True)
class DevKeys:
    """Where :func:`dev_keys` wrote everything, and how to mint further tokens."""

    key_path: Path
    jwks_path: Path
    token_path: Path
    kid: str
    issuer: str
    client_id: str

    @property
    def token(self) -> str:
        return self.token_path.read_text(encoding="ascii").strip()

    def mint(
        self,
        *,
        lifetime_s: float = 3600,
        claims: Mapping[str, Any] | None = None,
        now: Callable[[], float] = time.time,
    ) -> str:
        """A new ID token signed with the key; ``claims`` add to or override the defaults."""
        issued = int(now())
        payload: dict[str, Any] = {
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, self.issuer + "/developer")),
            "cognito:username": "developer",
            "token_use": "id",
            "aud": self.client_id,
            "iss": self.issuer,
            "auth_time": issued,
            "iat": issued,
            "exp": issued + int(lifetime_s),
        }
        payload.update(claims or {})
        private_key = self.key_path.read_bytes()
        return jwt.encode(payload, private_key, algorithm="RS256", headers={"kid": self.kid})


def dev_keys(
    directory: Path,
    *,
    issuer: str = DEV_ISSUER,
    client_id: str = DEV_CLIENT_ID,
    lifetime_s: float = 3600,
) -> DevKeys:
    """Writes ``key.pem`` (0600), ``jwks.json`` and ``token.txt`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex
    keys = DevKeys(
        key_path=directory / "key.pem",
        jwks_path=directory / "jwks.json",
        token_path=directory / "token.txt",
        kid=kid,
        issuer=issuer,
        client_id=client_id,
    )
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Create the file owner-only from the start instead of chmod-ing it after writing.
    fd = os.open(keys.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as key_file:
        key_file.write(pem)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    keys.jwks_path.write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n", encoding="utf-8")
    keys.token_path.write_text(keys.mint(lifetime_s=lifetime_s) + "\n", encoding="ascii")
    return keys
