"""Encryption at rest and keyed identity hashes.

Personal data and raw agency answers are encrypted with Fernet keys from
``CHECKS_ENCRYPTION_KEYS`` (newest first): encrypt with the newest, decrypt with any, so keys
can be rotated. Subjects are found by an HMAC of the normalised identity, never by plaintext;
a lookup tries the hash under every key so rotation does not lose anyone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import date

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from checks.config import ConfigError
from checks.names import name_key

log = structlog.get_logger(__name__)

# A fixed key so a fresh clone runs out of the box; never use it for real data.
DEVELOPMENT_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"checks-development-key").digest())


class EncryptionKeyError(ConfigError):
    """An encryption key is malformed, or data was encrypted with a key no longer configured."""


class Cipher:
    """Encrypts and decrypts with rotating keys, and computes keyed identity hashes."""

    def __init__(self, keys: Sequence[str | bytes] = ()) -> None:
        self.using_development_key = not keys
        raw_keys = [k.encode() if isinstance(k, str) else k for k in keys] or [DEVELOPMENT_KEY]
        try:
            self._fernets = [Fernet(k) for k in raw_keys]
        except (ValueError, TypeError) as exc:
            raise EncryptionKeyError(
                "CHECKS_ENCRYPTION_KEYS must be comma-separated Fernet keys "
                "(32 url-safe base64 bytes each)"
            ) from exc
        self._multi = MultiFernet(self._fernets)
        self._raw_keys = raw_keys
        # Separate HMAC keys derived per encryption key: the raw key is never reused as-is.
        self._hash_keys = [hashlib.sha256(b"identity-hash:" + k).digest() for k in raw_keys]
        if self.using_development_key:
            log.warning("encryption.development_key", hint="set CHECKS_ENCRYPTION_KEYS")

    @staticmethod
    def generate_key() -> str:
        """A new random key, for CHECKS_ENCRYPTION_KEYS."""
        return Fernet.generate_key().decode()

    def encrypt(self, plaintext: str) -> bytes:
        """Encrypt with the newest key."""
        return self._multi.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        """Decrypt with whichever configured key encrypted it."""
        try:
            return self._multi.decrypt(token).decode("utf-8")
        except InvalidToken:
            raise EncryptionKeyError(
                "data was encrypted with a key that is no longer configured"
            ) from None

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt with the newest key."""
        return self._multi.rotate(token)

    def key_index(self, token: bytes) -> int | None:
        """Which configured key (0 = newest) encrypted a token, or None if none of them did."""
        for index, fernet in enumerate(self._fernets):
            try:
                fernet.decrypt(token)
            except InvalidToken:
                continue
            return index
        return None

    @property
    def key_fingerprints(self) -> list[str]:
        """A short, non-secret name for each configured key, newest first."""
        return [hashlib.sha256(b"fingerprint:" + k).hexdigest()[:12] for k in self._raw_keys]

    def identity_hashes(self, identity: str) -> list[str]:
        """The keyed hash of a normalised identity under every key, newest first."""
        data = identity.encode("utf-8")
        return [hmac.new(k, data, hashlib.sha256).hexdigest() for k in self._hash_keys]

    def identity_hash(self, identity: str) -> str:
        """The keyed hash under the newest key (what new rows store)."""
        return self.identity_hashes(identity)[0]

    def derived_key(self, purpose: bytes) -> bytes:
        """A key for another purpose (e.g. signing), derived from the newest encryption key."""
        return hashlib.sha256(purpose + b":" + self._hash_keys[0]).digest()


def normalise_identity(forename: str, surname: str, date_of_birth: date, postcode: str) -> str:
    """The identity a subject is matched on: names as :func:`checks.names.name_key`, postcode
    without spaces."""
    return "|".join(
        [name_key(forename), name_key(surname), date_of_birth.isoformat(), name_key(postcode)]
    )
