"""Stripe Connect for the local demo provider (mixed into ``LocalProvider``): creator payouts without a
network.

A connected account (``acct_local_<hex>``, following from the idempotency key) starts as Stripe's new
Express accounts do: details not submitted, payouts off, the ``transfers`` capability inactive, its
requirements past due. Its account link is a signed URL on the app itself
(``/local/connect/onboard/{account}``, served by ``payments.local_connect_routes``); completing that page
enables the account and makes the app send itself a signed ``account.updated`` event through the normal
webhook path (one event id per account, so completing twice changes nothing).

Transfers (``tr_local_<hex>``) and reversals (``trr_local_<hex>``) succeed at once and follow from their
keys. The demo platform's balance has no limit, but the rest is Stripe's behaviour: a transfer to an
unknown or not yet onboarded account is declined, a refusal is kept under its key (a retry needs a new
key, as with Stripe), a reversal cannot exceed what remains.

The records (Stripe-shaped objects) live in memory and, when the provider has a ``state_path``, in
``local-connect.json`` beside it, read again at every call (it is small) so that the API process and a
worker process see each other's changes.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from codex_graphql.payments import (
    AccountLink,
    ConnectedAccount,
    ConnectRefused,
    TransferDeclined,
    TransferResult,
)
from codex_graphql.payments.objects import connected_account

LINK_SECONDS = 300  # Stripe's account links also expire after minutes
ONBOARDING_FIELDS = ["business_type", "external_account", "tos_acceptance.date", "tos_acceptance.ip"]
NOT_ONBOARDED = ("Your destination account needs to have at least one of the following capabilities enabled: "
                 "transfers, crypto_transfers, legacy_payments")
ONBOARD_PATH = "/local/connect/onboard/"


def _uid(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, ":".join(parts)).hex


@dataclass(frozen=True, slots=True)
class OnboardingLink:
    """A verified local account link: where the page sends the user when done, or when it expired."""

    account_id: str
    return_url: str
    refresh_url: str
    expired: bool


class LocalConnectMixin:
    """Needs from ``LocalProvider``: ``base_url``, ``_token_key``."""

    base_url: str
    _token_key: bytes
    _connect_path: Path | None
    _connect: dict[str, dict[str, Any]]

    def _init_connect(self, state_path: Path | None) -> None:
        self._connect_path = state_path
        self._connect = {"accounts": {}, "transfers": {}, "declined": {}}

    def _connect_state(self) -> dict[str, dict[str, Any]]:
        if self._connect_path is not None and self._connect_path.exists():
            self._connect = orjson.loads(self._connect_path.read_bytes())
        return self._connect

    def _connect_save(self) -> None:
        path = self._connect_path
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(orjson.dumps(self._connect))
        temporary.replace(path)

    def _account(self, account_id: str) -> dict[str, Any]:
        account = self._connect_state()["accounts"].get(account_id)
        if account is None:
            raise ConnectRefused(f"The provided key does not have access to account '{account_id}' "
                                 "(or that account does not exist).", "account_invalid")
        return account

    # -- accounts and onboarding -----------------------------------------------------------------------
    async def create_connected_account(self, *, email: str | None, country: str | None, metadata: dict[str, str],
                                       idempotency_key: str) -> ConnectedAccount:
        account_id = "acct_local_" + _uid("account", idempotency_key)
        accounts = self._connect_state()["accounts"]
        if account_id not in accounts:
            accounts[account_id] = {
                "id": account_id, "object": "account", "type": "express", "email": email,
                "country": (country or "US").upper(), "created": int(time.time()), "livemode": False,
                "charges_enabled": False, "payouts_enabled": False, "details_submitted": False,
                "capabilities": {"transfers": "inactive"}, "metadata": dict(metadata),
                "requirements": {"currently_due": list(ONBOARDING_FIELDS), "eventually_due": list(ONBOARDING_FIELDS),
                                 "past_due": list(ONBOARDING_FIELDS), "pending_verification": [], "errors": [],
                                 "current_deadline": None, "disabled_reason": "requirements.past_due"},
            }
            self._connect_save()
        return connected_account(accounts[account_id])

    async def retrieve_connected_account(self, account_id: str) -> ConnectedAccount:
        return connected_account(self._account(account_id))

    def _link_signature(self, account_id: str, return_url: str, refresh_url: str, expires: str) -> str:
        message = "\n".join(("connect-onboard", account_id, return_url, refresh_url, expires)).encode()
        return hmac.new(self._token_key, message, hashlib.sha256).hexdigest()

    async def create_account_link(self, account_id: str, *, return_url: str, refresh_url: str) -> AccountLink:
        self._account(account_id)
        expires = int(time.time()) + LINK_SECONDS
        query = {"return_url": return_url, "refresh_url": refresh_url, "expires": str(expires)}
        query["sig"] = self._link_signature(account_id, return_url, refresh_url, str(expires))
        return AccountLink(url=f"{self.base_url}{ONBOARD_PATH}{account_id}?{urlencode(query)}",
                           expires_at=datetime.fromtimestamp(expires, UTC))

    def open_account_link(self, account_id: str, query: Mapping[str, str]) -> OnboardingLink | None:
        """The link's details when its signature holds (expired or not); None for a forged or altered one."""
        return_url, refresh_url = query.get("return_url", ""), query.get("refresh_url", "")
        expires = query.get("expires", "")
        expected = self._link_signature(account_id, return_url, refresh_url, expires)
        if not expires.isdigit() or not hmac.compare_digest(expected, query.get("sig", "")):
            return None
        return OnboardingLink(account_id=account_id, return_url=return_url, refresh_url=refresh_url,
                              expired=int(expires) < time.time())

    def complete_onboarding(self, account_id: str) -> bytes:
        """The user finished onboarding: the account is enabled; returns the ``account.updated`` event to
        deliver (ConnectRefused for an unknown account)."""
        account = self._account(account_id)
        previous = {"details_submitted": False, "payouts_enabled": False, "capabilities": {"transfers": "inactive"},
                    "requirements": copy.deepcopy(account["requirements"])}
        account.update(details_submitted=True, payouts_enabled=True, capabilities={"transfers": "active"})
        account["requirements"].update(currently_due=[], eventually_due=[], past_due=[], disabled_reason=None)
        self._connect_save()
        return orjson.dumps({
            "id": "evt_local_" + _uid("account.updated", account_id, "onboarded"), "object": "event",
            "type": "account.updated", "account": account_id, "created": int(time.time()), "livemode": False,
            "api_version": None, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "data": {"object": copy.deepcopy(account), "previous_attributes": previous},
        })

    # -- transfers ---------------------------------------------------------------------------------------
    async def create_transfer(self, *, destination: str, amount_cents: int, currency: str, transfer_group: str | None,
                              metadata: dict[str, str], idempotency_key: str) -> TransferResult:
        state = self._connect_state()
        transfer_id = "tr_local_" + _uid("transfer", idempotency_key)
        if transfer_id in state["transfers"]:
            return _result(state["transfers"][transfer_id])
        if idempotency_key in state["declined"]:
            raise TransferDeclined(*state["declined"][idempotency_key])
        if amount_cents <= 0:
            raise TransferDeclined("Invalid positive integer", "parameter_invalid_integer")
        account = state["accounts"].get(destination)
        refusal: tuple[str, str] | None = None
        if account is None:
            refusal = (f"No such destination: '{destination}'", "resource_missing")
        elif account["capabilities"].get("transfers") != "active":
            refusal = (NOT_ONBOARDED, "insufficient_capabilities_for_transfer")
        if refusal is not None:
            state["declined"][idempotency_key] = refusal
            self._connect_save()
            raise TransferDeclined(*refusal)
        state["transfers"][transfer_id] = {
            "id": transfer_id, "object": "transfer", "amount": amount_cents, "amount_reversed": 0,
            "currency": currency.lower(), "destination": destination, "transfer_group": transfer_group,
            "metadata": dict(metadata), "reversed": False, "created": int(time.time()), "livemode": False,
            "reversals": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                          "url": f"/v1/transfers/{transfer_id}/reversals"},
        }
        self._connect_save()
        return _result(state["transfers"][transfer_id])

    async def find_transfer(self, transfer_group: str) -> TransferResult | None:
        found = [t for t in self._connect_state()["transfers"].values() if t.get("transfer_group") == transfer_group]
        return _result(found[-1]) if found else None

    async def reverse_transfer(self, transfer_id: str, *, amount_cents: int, idempotency_key: str) -> TransferResult:
        transfer = self._connect_state()["transfers"].get(transfer_id)
        if transfer is None:
            raise TransferDeclined(f"No such transfer: '{transfer_id}'", "resource_missing")
        reversal_id = "trr_local_" + _uid("reversal", idempotency_key)
        if any(reversal["id"] == reversal_id for reversal in transfer["reversals"]["data"]):
            return _result(transfer, reversal_id)
        remaining = transfer["amount"] - transfer["amount_reversed"]
        if amount_cents <= 0:
            raise TransferDeclined("Invalid positive integer", "parameter_invalid_integer")
        if amount_cents > remaining:
            raise TransferDeclined(f"Amount to reverse ({amount_cents}) is greater than the transfer's remaining "
                                   f"amount ({remaining}).")
        transfer["reversals"]["data"].insert(0, {
            "id": reversal_id, "object": "transfer_reversal", "amount": amount_cents, "currency": transfer["currency"],
            "transfer": transfer_id, "created": int(time.time()), "metadata": {}})
        transfer["reversals"]["total_count"] += 1
        transfer["amount_reversed"] += amount_cents
        transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
        self._connect_save()
        return _result(transfer, reversal_id)


def _result(transfer: dict[str, Any], reversal_id: str | None = None) -> TransferResult:
    return TransferResult(transfer_id=transfer["id"], amount_cents=transfer["amount"],
                          currency=transfer["currency"].upper(), reversed_cents=transfer["amount_reversed"],
                          reversal_id=reversal_id)
