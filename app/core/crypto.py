"""Secrets at rest: hashes for what is only checked, encryption for what is recovered."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from app.settings import get_settings


def new_secret(prefix: str = "", nbytes: int = 32) -> str:
    """A random URL-safe secret (``prefix`` makes tokens recognisable in logs and scanners)."""
    return prefix + secrets.token_urlsafe(nbytes)


def hash_token(secret: str) -> str:
    """SHA-256 of a high-entropy secret (tokens, provisioning keys); used for lookups."""
    return hashlib.sha256(secret.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a.encode(), b.encode())


_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def hash_pin(pin: str) -> str:
    """A salted scrypt hash of a low-entropy secret (PINs)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_pin(pin: str, stored: str) -> bool:
    try:
        _, salt_b64, digest_b64 = stored.split("$")
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    candidate = hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)
    return hmac.compare_digest(candidate, digest)


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    derived = hashlib.sha256(("phonegraph-secrets:" + key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plaintext: str) -> str:
    """Encrypt a secret that must be recovered (SIP and phone passwords)."""
    return _fernet(get_settings().resolved_secret_key()).encrypt(plaintext.encode()).decode()


def encrypt_bytes(data: bytes) -> str:
    """Encrypt exact bytes that must be recovered as they were (config files)."""
    return encrypt(base64.b64encode(data).decode("ascii"))


def decrypt_bytes(ciphertext: str) -> bytes:
    """The bytes :func:`encrypt_bytes` encrypted."""
    return base64.b64decode(decrypt(ciphertext))


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet(get_settings().resolved_secret_key()).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:  # wrong PHONEGRAPH_SECRET_KEY for this database
        raise RuntimeError("stored secret cannot be decrypted with the configured key") from exc


# An XML element whose name ends in "password" (<authPassword>, <phonePassword
# type="text">, …): how a config written by hand holds its secrets.
PASSWORD_ELEMENT = re.compile(r"(<(\w*[Pp]assword)(?:\s[^>]*)?>)([^<]+)(</\2>)")


def mask_password_elements(text: str, mask: str = "********") -> str:
    """``text`` with the value of every password element shown as ``mask``."""
    if "assword" not in text:
        return text
    return PASSWORD_ELEMENT.sub(lambda m: m.group(1) + mask + m.group(4), text)
