"""Stripe Connect for creator payouts, mixed into ``StripeProvider``: Express accounts, onboarding links,
transfers from the platform balance and their reversals, through the official library's ``StripeClient``.

Every method is one network call with no database transaction open. Stripe's definite answers become
``ConnectRefused`` / ``TransferDeclined`` carrying Stripe's error code; network and server errors
propagate unchanged (the outcome is unknown: retry with the same idempotency key).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe

from codex_graphql.payments import (
    AccountLink,
    ConnectedAccount,
    ConnectRefused,
    TransferDeclined,
    TransferResult,
)
from codex_graphql.payments.objects import connected_account, timestamp


class StripeConnectMixin:
    """Needs from ``StripeProvider``: ``client`` (a ``stripe.StripeClient``)."""

    client: stripe.StripeClient

    async def create_connected_account(self, *, email: str | None, country: str | None, metadata: dict[str, str],
                                       idempotency_key: str) -> ConnectedAccount:
        params: dict[str, Any] = {"type": "express", "capabilities": {"transfers": {"requested": True}},
                                  "metadata": metadata}
        if email:
            params["email"] = email
        if country:  # otherwise Stripe uses the platform's country
            params["country"] = country.upper()
        with _refusals(ConnectRefused):
            account = await self.client.v1.accounts.create_async(
                params=params, options={"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        return connected_account(account.to_dict())

    async def retrieve_connected_account(self, account_id: str) -> ConnectedAccount:
        with _refusals(ConnectRefused):
            account = await self.client.v1.accounts.retrieve_async(account_id)
        return connected_account(account.to_dict())

    async def create_account_link(self, account_id: str, *, return_url: str, refresh_url: str) -> AccountLink:
        params: dict[str, Any] = {"account": account_id, "type": "account_onboarding",
                                  "return_url": return_url, "refresh_url": refresh_url}
        with _refusals(ConnectRefused):
            link = await self.client.v1.account_links.create_async(params=params)  # type: ignore[arg-type]
        expires_at = timestamp(link.expires_at)
        assert expires_at is not None  # always set on an account link
        return AccountLink(url=link.url, expires_at=expires_at)

    async def create_transfer(self, *, destination: str, amount_cents: int, currency: str, transfer_group: str | None,
                              metadata: dict[str, str], idempotency_key: str) -> TransferResult:
        params: dict[str, Any] = {"destination": destination, "amount": amount_cents, "currency": currency.lower(),
                                  "metadata": metadata}
        if transfer_group:
            params["transfer_group"] = transfer_group
        with _refusals(TransferDeclined):
            transfer = await self.client.v1.transfers.create_async(
                params=params, options={"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        return _transfer_result(transfer.to_dict())

    async def find_transfer(self, transfer_group: str) -> TransferResult | None:
        found = await self.client.v1.transfers.list_async(
            params={"transfer_group": transfer_group, "limit": 1})  # type: ignore[arg-type]
        return _transfer_result(found.data[0].to_dict()) if found.data else None

    async def reverse_transfer(self, transfer_id: str, *, amount_cents: int, idempotency_key: str) -> TransferResult:
        # The reversal answers with its transfer expanded: the transfer's new state in the same call.
        params: dict[str, Any] = {"amount": amount_cents, "expand": ["transfer"]}
        with _refusals(TransferDeclined):
            reversal = await self.client.v1.transfers.reversals.create_async(
                transfer_id, params=params, options={"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        answer = reversal.to_dict()
        return _transfer_result(answer["transfer"], reversal_id=str(answer["id"]))


def _transfer_result(transfer: dict[str, Any], reversal_id: str | None = None) -> TransferResult:
    return TransferResult(transfer_id=str(transfer["id"]), amount_cents=int(transfer["amount"]),
                          currency=str(transfer["currency"]).upper(),
                          reversed_cents=int(transfer.get("amount_reversed") or 0), reversal_id=reversal_id)


@contextmanager
def _refusals(refusal: type[ConnectRefused]) -> Iterator[None]:
    """Stripe's definite answers (400/404 invalid requests, and 403 ``account_invalid`` for an account
    the platform cannot reach) as ``refusal`` with Stripe's code."""
    try:
        yield
    except (stripe.InvalidRequestError, stripe.PermissionError) as exc:
        # The library sets ``code`` only on some error classes; the error object always carries it.
        code = exc.code or (exc.error.code if exc.error is not None else None)
        raise refusal(exc.user_message or str(exc), code) from exc
