"""Encryption at rest for registry credentials (Fernet, keys from the settings, rotatable).

``REGSCAN_ENCRYPTION_KEYS``: the first key encrypts, every key decrypts (MultiFernet). To rotate,
put a new key first, run ``manage.py rotatekeys`` (re-encrypts every stored secret with it),
then remove the old key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from regscan_site.logging import register_secret

__all__ = ["KeyConfigError", "Secret", "decrypt", "encrypt", "reencrypt"]


class KeyConfigError(ValueError):
    """REGSCAN_ENCRYPTION_KEYS can't decrypt a stored credential (a key is missing or is not
    a Fernet key). The message says what to fix and holds no key or secret."""


class Secret:
    """A secret value that never shows itself: ``str()``/``repr()`` give ``***``.

    Call :meth:`reveal` at the one place the clear value is needed (an HTTP header, an SDK call).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def _fernet() -> MultiFernet:
    """The keys of REGSCAN_ENCRYPTION_KEYS; raises KeyConfigError for a malformed one."""
    try:
        return MultiFernet([Fernet(k.encode()) for k in settings.REGSCAN_ENCRYPTION_KEYS])
    except ValueError:  # also binascii.Error; the key itself is never shown
        raise KeyConfigError(
            "REGSCAN_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe "
            "base64-encoded bytes): fix the setting."
        ) from None


def encrypt(value: str) -> str:
    """Encrypt ``value`` with the first key; the empty string stays empty."""
    if not value:
        return ""
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> Secret:
    """Decrypt a stored token; raises KeyConfigError (a ValueError) naming the cause when no
    key fits or a key is malformed."""
    if not token:
        return Secret("")
    try:
        return Secret(_fernet().decrypt(token.encode()).decode())
    except InvalidToken:
        raise KeyConfigError(
            "A stored credential cannot be decrypted with REGSCAN_ENCRYPTION_KEYS: "
            "the key that encrypted it is missing from the list."
        ) from None


def reencrypt(token: str) -> str:
    """Re-encrypt ``token`` with the current first key (for key rotation)."""
    return _fernet().rotate(token.encode()).decode() if token else ""
