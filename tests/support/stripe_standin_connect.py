"""Stripe Connect for the Stripe stand-in (mixed into ``StripeStandIn``): Express accounts, account links,
transfers from the platform balance and transfer reversals, plus test helpers that do what the creator
does in Stripe's hosted onboarding (``complete_onboarding``) and what Stripe's verification does later
(``require_more``), each delivering a signed ``account.updated`` event.

Stripe's answers are followed where they matter to a payout job:
- a transfer needs the destination's ``transfers`` capability active, else 400
  ``insufficient_capabilities_for_transfer``; an unknown destination is 400 ``resource_missing``;
- the platform's ``available_balance`` (per lower-case currency, 0 unless a test sets it) must cover the
  transfer, else 400 ``balance_insufficient``; reversals give the amount back;
- a reversal cannot exceed what is left of its transfer (400, no code);
- an account the platform cannot reach (``GET /v1/accounts/{id}``) is 403 ``account_invalid``, which the
  library raises as ``PermissionError``;
- a refused transfer is kept under its Idempotency-Key like a success (Stripe saves every answer once the
  endpoint started executing), so a retry with the same key gets the same refusal.
Events for a connected account (``account.updated``) carry the top-level ``account`` Stripe adds to
Connect webhooks; ``transfer.created`` and ``transfer.reversed`` are emitted as well.
"""

from __future__ import annotations

import copy
import time
import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.stripe_standin_billing import _error, _missing, parse_form

if TYPE_CHECKING:
    import httpx

ACCOUNT_TYPES = ("express", "custom", "standard")
ONBOARDING_FIELDS = ["business_profile.mcc", "business_profile.url", "business_type", "external_account",
                     "representative.first_name", "representative.last_name", "tos_acceptance.date",
                     "tos_acceptance.ip"]
NOT_ONBOARDED = ("Your destination account needs to have at least one of the following capabilities enabled: "
                 "transfers, crypto_transfers, legacy_payments")
LINK_SECONDS = 300


def _requirements(due: list[str]) -> dict[str, Any]:
    return {"alternatives": [], "current_deadline": None, "currently_due": list(due), "eventually_due": list(due),
            "past_due": list(due), "pending_verification": [], "errors": [],
            "disabled_reason": "requirements.past_due" if due else None}


def _list(url: str) -> dict[str, Any]:
    return {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": url}


class ConnectMixin:
    """Needs from ``StripeStandIn``: ``_replay``, ``_remember``, ``_emit``, ``send``, ``webhook_url``."""

    webhook_url: str | None
    if TYPE_CHECKING:
        async def _replay(self, request: Request, params: dict[str, Any]) -> Response | None: ...

        def _remember(self, request: Request, obj: dict[str, Any]) -> Response: ...

        def _emit(self, event_type: str, obj: dict[str, Any],
                  previous: dict[str, Any] | None = None) -> dict[str, Any]: ...

        async def send(self, events: list[dict[str, Any]] | None = None, *, url: str | None = None,
                       timestamp: int | None = None) -> list[httpx.Response]: ...

    def _init_connect(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        self.account_links: list[dict[str, Any]] = []
        self.transfers: dict[str, dict[str, Any]] = {}
        self.available_balance: dict[str, int] = {}  # the platform's, per lower-case currency
        self.refused: dict[str, tuple[str, int, bytes]] = {}  # Idempotency-Key -> (path, status, body)

    def connect_routes(self) -> list[Route]:
        return [
            Route("/v1/accounts", self.create_account, methods=["POST"]),
            Route("/v1/accounts/{id}", self.get_account, methods=["GET"]),
            Route("/v1/account_links", self.create_account_link, methods=["POST"]),
            Route("/v1/transfers", self.create_transfer, methods=["POST"]),
            Route("/v1/transfers", self.list_transfers, methods=["GET"]),
            Route("/v1/transfers/{id}", self.get_transfer, methods=["GET"]),
            Route("/v1/transfers/{id}/reversals", self.create_reversal, methods=["POST"]),
        ]

    # -- accounts ---------------------------------------------------------------------------------------
    async def create_account(self, request: Request) -> Response:
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        kind = params.get("type")
        if kind not in ACCOUNT_TYPES:
            return _error(400, "Invalid type: must be one of custom, express, or standard", param="type")
        capabilities = {name: "inactive" for name, wanted in (params.get("capabilities") or {}).items()
                        if isinstance(wanted, dict) and wanted.get("requested") == "true"}
        account_id = "acct_" + uuid.uuid4().hex[:16]
        account = {
            "id": account_id, "object": "account", "type": kind, "email": params.get("email"),
            "country": (params.get("country") or "US").upper(), "created": int(time.time()), "livemode": False,
            "business_type": None, "charges_enabled": False, "payouts_enabled": False, "details_submitted": False,
            "capabilities": capabilities, "metadata": params.get("metadata") or {},
            "requirements": _requirements(ONBOARDING_FIELDS), "external_accounts": _list(
                f"/v1/accounts/{account_id}/external_accounts"),
            "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
            "controller": {"type": "application", "is_controller": True, "requirement_collection": "stripe",
                           "fees": {"payer": "application"}, "losses": {"payments": "application"},
                           "stripe_dashboard": {"type": kind if kind != "custom" else "none"}},
        }
        self.accounts[account_id] = account
        return self._remember(request, account)

    async def get_account(self, request: Request) -> Response:
        if (refused := await self._replay(request, {})) is not None:
            return refused
        account = self.accounts.get(request.path_params["id"])
        if account is None:
            return _error(403, "The provided key 'sk_test_********************' does not have access to account "
                               f"'{request.path_params['id']}' (or that account does not exist). Application access "
                               "may have been revoked.", code="account_invalid")
        return JSONResponse(account)

    async def create_account_link(self, request: Request) -> Response:
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        for name in ("account", "type", "return_url", "refresh_url"):
            if not params.get(name) and (name != "return_url" or params.get("type") == "account_onboarding"):
                return _error(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
        if params["type"] not in ("account_onboarding", "account_update"):
            return _error(400, "Invalid type: must be one of account_onboarding or account_update", param="type")
        if params["account"] not in self.accounts:
            return _missing("account", params["account"], 400, "account")
        now = int(time.time())
        link = {"object": "account_link", "created": now, "expires_at": now + LINK_SECONDS,
                "url": f"https://connect.stripe.com/setup/e/{params['account']}/{uuid.uuid4().hex}"}
        self.account_links.append({**link, "account": params["account"], "type": params["type"],
                                   "return_url": params.get("return_url"), "refresh_url": params["refresh_url"]})
        return self._remember(request, link)

    # -- what the creator and Stripe's verification do --------------------------------------------------
    async def complete_onboarding(self, account_id: str) -> dict[str, Any]:
        """The creator finished hosted onboarding: details submitted, requested capabilities active, payouts
        on, nothing due. Emits ``account.updated`` and sends it to ``webhook_url`` when one is set."""
        account = self.accounts[account_id]
        previous = self._snapshot(account)
        account.update(details_submitted=True, payouts_enabled=True,
                       charges_enabled="card_payments" in account["capabilities"],
                       capabilities={name: "active" for name in account["capabilities"]},
                       tos_acceptance={"date": int(time.time()), "ip": "203.0.113.9", "user_agent": None})
        account["requirements"] = _requirements([])
        return await self._account_updated(account, previous)

    async def require_more(self, account_id: str, fields: list[str]) -> dict[str, Any]:
        """Stripe needs ``fields`` now (past due): payouts and capabilities off until they are provided.
        Emits ``account.updated`` and sends it to ``webhook_url`` when one is set."""
        account = self.accounts[account_id]
        previous = self._snapshot(account)
        account.update(payouts_enabled=False, charges_enabled=False,
                       capabilities={name: "inactive" for name in account["capabilities"]})
        account["requirements"] = _requirements(fields)
        return await self._account_updated(account, previous)

    @staticmethod
    def _snapshot(account: dict[str, Any]) -> dict[str, Any]:
        names = ("details_submitted", "payouts_enabled", "charges_enabled", "capabilities", "requirements")
        return {name: copy.deepcopy(account[name]) for name in names}

    async def _account_updated(self, account: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
        changed = {name: value for name, value in previous.items() if account[name] != value}
        event = self._emit("account.updated", account, changed)
        event["account"] = account["id"]  # Stripe's Connect webhooks name the connected account
        if self.webhook_url:
            await self.send([event])
        return event

    # -- transfers ---------------------------------------------------------------------------------------
    def _refuse(self, request: Request, status: int, message: str, code: str | None = None,
                param: str | None = None) -> Response:
        """A refusal reached while executing: kept under the Idempotency-Key, as Stripe keeps it."""
        answer = _error(status, message, code=code, param=param)
        key = request.headers.get("idempotency-key")
        if key:
            self.refused[key] = (request.url.path, status, bytes(answer.body))
        return answer

    def _replay_refusal(self, request: Request) -> Response | None:
        key = request.headers.get("idempotency-key")
        if key and key in self.refused:
            path, status, body = self.refused[key]
            if path != request.url.path:
                return _error(400, "Keys for idempotent requests can only be used for the same endpoint.")
            return Response(body, status_code=status, media_type="application/json",
                            headers={"idempotent-replayed": "true"})
        return None

    async def create_transfer(self, request: Request) -> Response:
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        if (refusal := self._replay_refusal(request)) is not None:
            return refusal
        for name in ("amount", "currency", "destination"):
            if not params.get(name):
                return _error(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
        if not params["amount"].isdigit() or int(params["amount"]) <= 0:
            return _error(400, "Invalid positive integer", code="parameter_invalid_integer", param="amount")
        amount, currency, destination = int(params["amount"]), params["currency"].lower(), params["destination"]
        account = self.accounts.get(destination)
        if account is None:
            return self._refuse(request, 400, f"No such destination: '{destination}'", "resource_missing", "destination")
        if account["capabilities"].get("transfers") != "active":
            return self._refuse(request, 400, NOT_ONBOARDED, "insufficient_capabilities_for_transfer", "destination")
        if amount > self.available_balance.get(currency, 0):
            return self._refuse(request, 400, "You have insufficient available funds in your Stripe account. Try "
                                "adding funds directly to your available balance by creating Charges using the "
                                "4000000000000077 test card.", "balance_insufficient")
        self.available_balance[currency] -= amount
        transfer_id = "tr_" + uuid.uuid4().hex[:24]
        transfer = {
            "id": transfer_id, "object": "transfer", "amount": amount, "amount_reversed": 0,
            "balance_transaction": "txn_" + uuid.uuid4().hex[:24], "created": int(time.time()), "currency": currency,
            "description": params.get("description"), "destination": destination,
            "destination_payment": "py_" + uuid.uuid4().hex[:24], "livemode": False,
            "metadata": params.get("metadata") or {}, "reversals": _list(f"/v1/transfers/{transfer_id}/reversals"),
            "reversed": False, "source_transaction": None, "source_type": "card",
            "transfer_group": params.get("transfer_group"),
        }
        self.transfers[transfer_id] = transfer
        self._emit("transfer.created", transfer)
        return self._remember(request, transfer)

    async def list_transfers(self, request: Request) -> Response:
        """``GET /v1/transfers``: newest first, filtered by ``transfer_group`` and ``destination``, cut at
        ``limit`` (default 10)."""
        if (refused := await self._replay(request, {})) is not None:
            return refused
        query = request.query_params
        found = [t for t in reversed(self.transfers.values())
                 if all(t.get(name) == query[name] for name in ("transfer_group", "destination") if name in query)]
        limit = int(query.get("limit") or 10)
        listed = _list("/v1/transfers")
        listed.update(data=found[:limit], has_more=len(found) > limit)
        del listed["total_count"]
        return JSONResponse(listed)

    async def get_transfer(self, request: Request) -> Response:
        if (refused := await self._replay(request, {})) is not None:
            return refused
        transfer = self.transfers.get(request.path_params["id"])
        return JSONResponse(transfer) if transfer else _missing("transfer", request.path_params["id"])

    async def create_reversal(self, request: Request) -> Response:
        """``POST /v1/transfers/{id}/reversals``: ``amount`` optional (default: all that remains);
        ``expand[]=transfer`` answers with the transfer object in ``transfer``."""
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        if (refusal := self._replay_refusal(request)) is not None:
            return refusal
        transfer = self.transfers.get(request.path_params["id"])
        if transfer is None:
            return _missing("transfer", request.path_params["id"])
        remaining = transfer["amount"] - transfer["amount_reversed"]
        amount_param = params.get("amount")
        if amount_param is not None and (not amount_param.isdigit() or int(amount_param) <= 0):
            return _error(400, "Invalid positive integer", code="parameter_invalid_integer", param="amount")
        amount = int(amount_param) if amount_param is not None else remaining
        if remaining == 0:
            return self._refuse(request, 400, f"Transfer {transfer['id']} has already been fully reversed.")
        if amount > remaining:
            return self._refuse(request, 400, f"Amount requested for reversal ({amount}) is greater than the "
                                f"transfer's remaining amount ({remaining}).", param="amount")
        reversal = {"id": "trr_" + uuid.uuid4().hex[:24], "object": "transfer_reversal", "amount": amount,
                    "balance_transaction": "txn_" + uuid.uuid4().hex[:24], "created": int(time.time()),
                    "currency": transfer["currency"], "destination_payment_refund": "pyr_" + uuid.uuid4().hex[:24],
                    "metadata": params.get("metadata") or {}, "source_refund": None, "transfer": transfer["id"]}
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].insert(0, reversal)  # newest first, as Stripe lists them
        transfer["reversals"]["total_count"] += 1
        self.available_balance[transfer["currency"]] = self.available_balance.get(transfer["currency"], 0) + amount
        self._emit("transfer.reversed", transfer)
        answer = {**reversal, "transfer": copy.deepcopy(transfer)} if "transfer" in (params.get("expand") or []) \
            else reversal
        return self._remember(request, answer)

    def transfers_to(self, account_id: str) -> list[dict[str, Any]]:
        """The transfers made to ``account_id``, oldest first."""
        return [t for t in self.transfers.values() if t["destination"] == account_id]
