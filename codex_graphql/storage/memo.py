"""The signed reads a storage backend remembers for the current second (``presign_get`` of both backends).

A signed GET URL is a function of the object, its parameters and the second it is signed in (the local
backend signs the expiry second; SigV4 signs ``X-Amz-Date``, a second, and ``X-Amz-Expires``): the same
read signed again within that second is the same URL. A catalogue page signs dozens of thumbnails per
request and a busy one is asked for many times a second, so each backend keeps the current second's URLs
and hands a remembered one back instead of signing again (S3's signing, in botocore, costs far more CPU
than the local HMAC).

The rule, the same for both: a URL is reused only within the second it was signed in, so what the caller
gets is still valid for at least ``expires_in`` - 1 seconds (the window is one second), never an older URL.
The memo holds at most ``kept`` URLs and forgets them all when the second changes.
"""

from __future__ import annotations

from collections.abc import Hashable

from codex_graphql.storage import SignedRequest

SIGNED_GETS_KEPT = 4096  # signed reads remembered within one second


class SignedGets(dict[Hashable, SignedRequest]):
    """The current second's signed reads by what was asked (a dict, so its contents can be inspected)."""

    def __init__(self, kept: int = SIGNED_GETS_KEPT) -> None:
        super().__init__()
        self.kept = kept
        self.second = 0

    def recall(self, second: int, read: Hashable) -> SignedRequest | None:
        """The URL signed for ``read`` in ``second`` (a unix second), if it is the current one."""
        return self.get(read) if second == self.second else None

    def remember(self, second: int, read: Hashable, signed: SignedRequest) -> None:
        """Keep ``signed`` for ``read``; a new second (or a full memo) forgets every older URL first."""
        if second != self.second or len(self) >= self.kept:
            self.clear()
            self.second = second
        self[read] = signed
