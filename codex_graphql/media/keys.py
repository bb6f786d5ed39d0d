"""AES-128 keys of HLS ladders (docs/media.md, "Segment encryption"): one random key per ladder version,
kept only in ``content_processing.hls_key``, wrapped with AES-256-GCM under a key derived from ``SECRET_KEY``
(HKDF-SHA256). The wrap's associated data names the item and its ladder prefix, so a wrapped key copied to
another row (or another ladder version) does not unwrap. Never written to storage beside the segments."""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 16  # AES-128, what HLS's METHOD=AES-128 uses
KEY_URI_PLACEHOLDER = "codex-key"  # written into media playlists by ffmpeg; the app rewrites it when serving
_NONCE_BYTES = 12
_INFO = b"codex-hls-key-wrap:v1"
_IV_CONTEXT = b"codex-hls-iv:v1"


class KeyUnavailable(Exception):
    """A wrapped key that does not unwrap (another SECRET_KEY, another item or ladder, damaged)."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def _wrapping_key(secret_key: str) -> bytes:
    if not secret_key:
        raise ValueError("HLS key wrapping needs SECRET_KEY")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())


def _bound_to(content_id: uuid.UUID, prefix: str) -> bytes:
    return f"{content_id}|{prefix}".encode()


def wrap(secret_key: str, key: bytes, content_id: uuid.UUID, prefix: str) -> bytes:
    """``nonce || AES-GCM(key)``, bound to the item and its ladder prefix."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(_wrapping_key(secret_key)).encrypt(nonce, key, _bound_to(content_id, prefix))


def unwrap(secret_key: str, wrapped: bytes, content_id: uuid.UUID, prefix: str) -> bytes:
    try:
        key = AESGCM(_wrapping_key(secret_key)).decrypt(
            wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _bound_to(content_id, prefix))
    except (InvalidTag, ValueError) as exc:
        raise KeyUnavailable("the ladder key does not unwrap") from exc
    if len(key) != KEY_BYTES:
        raise KeyUnavailable("the ladder key has the wrong length")
    return key


def iv_for(key: bytes) -> bytes:
    """The ladder's fixed IV, derived from its key: the same for every segment of every rendition of one ladder
    version (and written into each media playlist's ``#EXT-X-KEY``), so a resumed run needs nothing more kept."""
    return hmac.new(key, _IV_CONTEXT, hashlib.sha256).digest()[:16]


def key_info(key_uri: str, key_path: str, iv: bytes) -> str:
    """ffmpeg's ``-hls_key_info_file`` text: the URI written into the playlist, the key file's path and the IV
    (hex). An explicit IV, because ffmpeg without one does not use the sequence number as the HLS spec's default
    says but writes ``IV=0x0...0`` for every segment (ffmpeg 5.1)."""
    return f"{key_uri}\n{key_path}\n{iv.hex()}\n"
