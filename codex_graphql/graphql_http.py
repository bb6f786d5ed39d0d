"""POST/GET /graphql: request parsing, limits, the viewer, execution, one transaction, JSON out.

On the request path, after the middleware: the viewer is resolved (``accounts.sessions``), the compiled
path (``fastpath``) answers the root fields it has a plan for, and the rest runs through the strawberry
schema in the request's one tenant transaction (``Context``), committed by ``Context.finish``.

A thin handler of our own instead of strawberry's view, so that body limits, CSRF rules, error
masking, status codes, cookies and the request transaction are explicit and cheap.

The GraphQL-over-HTTP spec (https://graphql.github.io/graphql-over-http/draft/), checked by
graphql-http's own audit suite in tests/http/test_graphql_http_spec.py: the response media type is
negotiated from `Accept` (`negotiate`). `application/json` (the legacy type, also for no Accept and
for wildcards) answers GraphQL request errors (parse, validation, variable coercion) with 200 and
`"data": null`; `application/graphql-response+json` answers them with 400 (500 for an internal
failure) and no `data` entry. Field errors during execution are 200 under both.

Every response of this endpoint carries `Cache-Control: no-store`: an answer may depend on the caller
(session cookie, bearer token, `X-Codex-Organization`), `login`/`register` return a token and set the
session cookie, and nothing here is meant for shared caches; so no response is ever kept by a browser
or a proxy, whatever the method, status or operation (see README "Security").

A document (`query`) over `MAX_DOCUMENT_BYTES` is refused with 413 `DOCUMENT_TOO_LARGE` as soon as the
request is read: before it is hashed, parsed, cached, registered as a persisted query or costed.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import orjson
from graphql import GraphQLError, OperationDefinitionNode, parse
from sqlalchemy.exc import DBAPIError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from codex_graphql import graft_parents as _graft_parents  # noqa: F401  (the parents grafts are resolved on)
from codex_graphql import tracing
from codex_graphql.asgi_request import (  # noqa: F401  (negotiate: re-exported, the spec tests use it)
    CONTENT_TYPES,
    GRAPHQL_RESPONSE_JSON,
    JSON,
    ScopeRequest,
    negotiate,
    negotiated,
)
from codex_graphql.context import (
    ORGANIZATION_HEADER,
    ORGANIZATION_REFUSED,
    Context,
    organization_choice,
    organization_refused,
)
from codex_graphql.doccache import DOCUMENT_TOO_LARGE, too_large
from codex_graphql.errors import is_client_error
from codex_graphql.fastpath import grafts
from codex_graphql.fastpath.engine import FastPath, Handoff
from codex_graphql.observability import Metrics, incoming_request_id, pick_request_id, request_id_var
from codex_graphql.persisted import (
    ApqPolicy,
    PersistedOperations,
    PersistedQueryError,
    Registrant,
    load_manifest,
)
from codex_graphql.ratelimit import charge_overhead, http_status
from codex_graphql.schema import CodexSchema
from codex_graphql.services import Services
from codex_graphql.web_security import add_security_headers

log = logging.getLogger(__name__)

OPERATION_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# The name of the first named operation in a document, for metrics when `operationName` is not sent
# (a label only: a document that fools it is merely counted under another name).
DOCUMENT_OPERATION_RE = re.compile(r"(?:^|[\s}])(?:query|mutation|subscription)\s+([A-Za-z_][A-Za-z0-9_]*)")
MAX_METRIC_OPERATIONS = 500
AnyRequest = Request | ScopeRequest  # Starlette's (the route, behind the middleware) or the scope's (CodexApp)


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def error_body(message: str, code: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


class GraphQLResponse(Response):
    """A JSON body in a negotiated media type, with its raw headers built at once (no header rewriting)."""

    def __init__(self, body: bytes, status: int, content_type: bytes, headers: dict[str, str] | None) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        raw = [(b"content-length", str(len(body)).encode()), (b"content-type", content_type), VARY_ACCEPT]
        if headers:
            raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
        self.raw_headers = raw
        self.plain = not headers  # JSON with none of the headers the endpoint adds or replaces (set-cookie aside)


VARY_ACCEPT = (b"vary", b"Accept")
RAW_CONTENT_TYPES = {media: value.encode() for media, value in CONTENT_TYPES.items()}


def graphql_response(body: dict[str, Any], media: str, status: int = 200,
                     headers: dict[str, str] | None = None) -> Response:
    """A GraphQL response in the negotiated media type (`Vary: Accept`, since the answer depends on it)."""
    return GraphQLResponse(orjson.dumps(body), status, RAW_CONTENT_TYPES[media], headers)


def request_error(message: str, code: str, status: int, media: str,
                  headers: dict[str, str] | None = None) -> Response:
    """A request refused before execution: `"data": null` under application/json (as always), no `data`
    entry under application/graphql-response+json (the spec: a request error has none)."""
    body = error_body(message, code)
    if media == GRAPHQL_RESPONSE_JSON:
        del body["data"]
    return graphql_response(body, media, status, headers)


def client_ip(request: AnyRequest) -> str:
    client = request.scope.get("client")
    return str(client[0]) if client else ""


def bearer_token(request: AnyRequest, cookie_name: str) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.cookies.get(cookie_name)


def organization_hint(request: AnyRequest) -> str | None:
    return organization_choice(request.headers.get(ORGANIZATION_HEADER))


# The database is unreachable (restart, failover): answered with 503, never a bare 500.
DATABASE_UNAVAILABLE = (DBAPIError, OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                        asyncpg.CannotConnectNowError)


class GraphQLEndpoint:
    def __init__(self, schema: CodexSchema, services: Services, metrics: Metrics) -> None:
        self.schema = schema
        self.services = services
        self.metrics = metrics
        self._operation_labels: set[str] = set()
        settings = services.settings
        self.fast: FastPath | None = None
        if settings.fast_path_enabled:
            self.fast = FastPath(schema, services, schema.cost_calculator, schema.validation_rules,
                                 settings.fast_path_cache_bytes, metrics.fastpath_fallbacks)
        manifest = load_manifest(settings.persisted_operations_file) if settings.persisted_operations_file else {}
        policy = ApqPolicy(ttl=settings.apq_ttl_seconds, anonymous_ttl=settings.apq_anonymous_ttl_seconds,
                           anonymous_per_hour=settings.apq_anonymous_registrations_per_hour,
                           user_per_hour=settings.apq_user_registrations_per_hour,
                           local_cache_bytes=settings.apq_local_cache_bytes)
        self.persisted = PersistedOperations(manifest, services.kv, apq=settings.apq_enabled,
                                             only=settings.persisted_operations_only, policy=policy)
        self._warm(manifest)

    def _warm(self, manifest: dict[str, str]) -> None:
        """Compile the manifest's operations before the first request asks for them."""
        if self.fast is None:
            return
        for document in manifest.values():
            try:
                names = [d.name.value if d.name else None for d in parse(document).definitions
                         if isinstance(d, OperationDefinitionNode)]
            except GraphQLError:
                continue
            for name in names:
                self.fast.plan(document, name if len(names) > 1 else None)

    async def close(self) -> None:
        if self.fast is not None:
            await self.fast.close()

    async def __call__(self, request: Request) -> Response:
        """The endpoint as a Starlette route (behind the middleware stack)."""
        # Normally assigned by RequestIdMiddleware; picked here too when the endpoint is mounted alone.
        request_id = request.scope.get("state", {}).get("request_id") or pick_request_id(request.headers.get("x-request-id"))
        token = request_id_var.set(request_id)
        try:
            response = await self._respond(request, request_id)
        finally:
            request_id_var.reset(token)
        response.raw_headers = _final_headers(response.raw_headers, request_id)
        return response

    async def asgi(self, scope: Any, receive: Any, send: Any, hsts: bool) -> int:
        """The endpoint as plain ASGI, for ``app.CodexApp`` (no middleware in front): the request id, the
        security headers and ``cache-control`` are added once to the response's raw headers, and the
        response goes out as one start and one body message. Returns the status sent."""
        request_id = incoming_request_id(scope)
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        try:
            response = await self._respond(ScopeRequest(scope, receive), request_id)
            headers = response.raw_headers
            if getattr(response, "plain", False):  # nothing to replace: the same headers, appended at once
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                headers.append(NO_STORE)
                headers.extend(JSON_SECURITY_HEADERS[hsts])
            else:
                headers = add_security_headers(_final_headers(headers, request_id), hsts)
            scope["codex.started"] = True  # for CodexApp: a failure from here on cannot answer 500 any more
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            await send({"type": "http.response.body", "body": response.body})
        finally:
            request_id_var.reset(token)
        return response.status_code

    async def _respond(self, request: AnyRequest, request_id: str) -> Response:
        media = negotiated(request.headers.get("accept"))
        try:
            with tracing.operation_span():  # one span per operation while tracing is on (tracing.py)
                return await self._handle(request, request_id, media)
        except DATABASE_UNAVAILABLE:
            log.warning("database unavailable", exc_info=True)
            return request_error("The service is temporarily unavailable; retry shortly.", "SERVICE_UNAVAILABLE",
                                 503, media or JSON, headers={"retry-after": "5"})

    async def _handle(self, request: AnyRequest, request_id: str, negotiated: str | None) -> Response:
        settings = self.services.settings
        media = negotiated or JSON
        if request.method == "GET" and "query" not in request.query_params and "extensions" not in request.query_params:
            if settings.graphiql and "text/html" in request.headers.get("accept", ""):
                return HTMLResponse(get_graphql_ide_html(graphql_ide="graphiql"))
            return request_error("Send a `query` parameter or POST a JSON body.", "BAD_REQUEST", 400, media)
        if negotiated is None:
            return request_error(f"Accept `{GRAPHQL_RESPONSE_JSON}` or `{JSON}` (or */*); nothing else is served.",
                                 "NOT_ACCEPTABLE", 406, JSON)
        try:
            raw_query, variables, operation_name, extensions = await self._read(request)
        except BadRequest as exc:
            return request_error(str(exc), exc.code, exc.status, media)
        chosen = organization_hint(request)
        viewer = await self.services.sessions.resolve(bearer_token(request, settings.session_cookie_name), chosen)
        try:
            # APQ registration quotas are per user when signed in, per client address otherwise (named only
            # when a document is sent with its hash, the one case that registers).
            registrant = None if raw_query is None or not extensions else Registrant(
                f"user:{viewer.user_id}", True) if viewer.user_id is not None else Registrant(
                f"ip:{client_ip(request) or 'unknown'}", False)
            query = await self.persisted.resolve(raw_query, extensions, registrant)
        except PersistedQueryError as exc:
            if exc.code == "PERSISTED_QUERY_NOT_FOUND":
                # The APQ protocol: clients (Apollo's link among them) resend with the document on this
                # answer, and treat a 400 as "persisted queries unsupported"; `data: null` keeps it a 200.
                return graphql_response(error_body(str(exc), exc.code), media)
            return request_error(str(exc), exc.code, 400 if exc.code == "BAD_REQUEST" or media == GRAPHQL_RESPONSE_JSON
                                 else 200, media)

        if organization_refused(viewer, chosen):
            # Refused before execution: 403 under graphql-response+json; 200 with `data: null` under
            # application/json, like every other GraphQL error there.
            return request_error(ORGANIZATION_REFUSED, "FORBIDDEN", 403 if media == GRAPHQL_RESPONSE_JSON else 200, media)
        started = time.perf_counter()
        handoff = await self._compiled(query, operation_name, viewer, variables, request)
        if handoff is not None and handoff.body is not None and handoff.grafts is None:  # data, no request errors: 200
            name = operation_name or _document_operation_name(query)
            tracing.annotate_operation(name, query, "compiled", handoff.report, "query")
            self._observe(name, started, [])
            return graphql_response(handoff.body, media)
        ctx = Context(
            services=self.services,
            viewer=viewer,
            request_id=request_id,
            client_ip=client_ip(request),
            user_agent=request.headers.get("user-agent", "")[:400],
            token=bearer_token(request, settings.session_cookie_name),
        )
        allowed = {OperationType.QUERY} if request.method == "GET" else {
            OperationType.QUERY, OperationType.MUTATION}
        try:
            data, errors, extensions = await self._execute(handoff, ctx, query, operation_name, variables, allowed)
        except InvalidOperationTypeError as exc:
            await ctx.finish(success=False)
            await charge_overhead(ctx, query)
            if exc.operation_type is OperationType.SUBSCRIPTION:
                return request_error("Subscriptions are served over WebSocket at /graphql (graphql-transport-ws).",
                                     "OPERATION_NOT_ALLOWED", 400, media)
            return request_error("Only queries may be sent with GET; use POST for mutations.", "OPERATION_NOT_ALLOWED",
                                 405, media, headers={"allow": "POST"})
        except CannotGetOperationTypeError as exc:
            # An unknown `operationName`, or several operations and none named: the request is invalid.
            await ctx.finish(success=False)
            await charge_overhead(ctx, query)
            return request_error(exc.as_http_error_reason(), "GRAPHQL_VALIDATION_FAILED",
                                 400 if media == GRAPHQL_RESPONSE_JSON else 200, media)
        except BaseException:
            await ctx.finish(success=False)
            raise
        body: dict[str, Any] = {"data": data}
        try:
            # Mutation fields run in savepoints, so what the response reports as done is what commits.
            await ctx.finish(success=True)
        except Exception:
            log.exception("committing the request transaction failed")
            body = {"data": None}
            errors = [GraphQLError("Internal server error.", extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id})]
        if ctx.cost is None and handoff is not None and handoff.report is not None:
            ctx.cost = handoff.report  # charged already (the derived document never reached the cost check)
        if ctx.cost is None:
            # Refused before the cost check (parse or validation errors, introspection, mutation count):
            # no request is free, so the caller still pays the minimum and the document's size.
            ctx.cost = await charge_overhead(ctx, query)
        if errors:
            body["errors"] = [self._format(e, request_id) for e in errors]
        tracing.annotate_operation(operation_name or _document_operation_name(query), query, "resolved", ctx.cost)
        if extensions:
            body["extensions"] = extensions  # `cost` (ratelimit.RequestLimits)
        self._observe(operation_name or _document_operation_name(query), started, body.get("errors", []))
        status, headers = http_status(ctx, settings)
        errors_out = body.get("errors", [])
        if media == GRAPHQL_RESPONSE_JSON and body["data"] is None and errors_out and not any(e.get("path") for e in errors_out):
            # A request error (parse, validation, variable coercion, a refusal before execution, a failed
            # commit): no `data` entry, and so a 4xx/5xx status. A null `data` from field errors stays 200.
            del body["data"]
            if status == 200:
                internal = any(e["extensions"]["code"] == "INTERNAL_SERVER_ERROR" for e in errors_out)
                status = 500 if internal else 400
        response = graphql_response(body, media, status, headers)
        self._apply_cookie(response, ctx)
        return response

    async def _execute(self, handoff: Handoff | None, ctx: Context, query: str | None, operation_name: str | None,
                       variables: dict[str, Any] | None, allowed: set[OperationType],
                       ) -> tuple[dict[str, Any] | None, list[GraphQLError], dict[str, Any] | None]:
        """The resolvers' part of a request (data, errors, extensions): the roots the compiled path left to them
        (the derived document) or the whole request, then the fields grafted into the compiled roots."""
        prepared = None
        if handoff is not None:
            ctx.charged = handoff.report  # charged once, for the whole document: the resolvers take no more
            if handoff.grafts is not None:
                try:  # parents loaded and grafts placed before anything runs, so a failure costs no work twice
                    prepared = await grafts.prepare(self.schema, ctx, handoff.grafts, variables)
                except grafts.GraftsUnavailable as reason:
                    log.info("grafts unavailable (%s); the whole document runs through the resolvers", reason)
                    handoff = Handoff(handoff.report)
        if handoff is not None and handoff.body is not None:  # every root compiled: only the grafts are left
            data, errors, extensions = handoff.body["data"], [], handoff.body.get("extensions")
        else:
            run_query, run_name = query, operation_name
            if handoff is not None and handoff.query is not None:
                run_query, run_name = handoff.query, handoff.operation_name
            result = await self.schema.execute(run_query, variable_values=variables, context_value=ctx,
                                               operation_name=run_name, allowed_operation_types=allowed)
            data = handoff.merge(result.data) if handoff is not None else result.data
            errors, extensions = list(result.errors or []), result.extensions
        if prepared is not None and handoff is not None and data is not None:
            outcome = await grafts.run(prepared, data)
            self.schema.process_errors(outcome.errors, cast(Any, _Errors(ctx)))  # logs the unexpected ones
            order = {key: i for i, key in enumerate(handoff.order or data)}  # roots in document order
            errors = sorted([*errors, *outcome.errors], key=lambda e: order.get(e.path[0], -1) if e.path else -1)
            data = outcome.data
        return data, errors, extensions

    async def _compiled(self, query: str, operation_name: str | None, viewer: Any, variables: dict[str, Any] | None,
                        request: AnyRequest) -> Handoff | None:
        """What the compiled path answered (all of it, or some roots), or None: all to the resolvers."""
        plan = self.fast.route(query, operation_name) if self.fast is not None else None
        if plan is None:
            return None
        assert self.fast is not None
        try:
            return await self.fast.execute(plan, viewer, variables, client_ip(request))
        except DATABASE_UNAVAILABLE:
            raise
        except asyncpg.QueryCanceledError:
            # DATABASE_STATEMENT_TIMEOUT_MS ran out: answered as a masked error, not tried again through the
            # resolvers (which would wait as long once more).
            log.exception("compiled statement canceled (statement timeout)")
            return Handoff(None, {"data": None, "errors": [{
                "message": "Internal server error.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id_var.get()}}]})
        except Exception:  # a defect of the compiled form must not cost the client its answer
            log.exception("compiled execution failed; answering through the resolvers")
            return None

    def _observe(self, operation_name: str | None, started: float, errors: list[dict[str, Any]]) -> None:
        label = self._label(operation_name)
        elapsed = time.perf_counter() - started
        if log.isEnabledFor(logging.DEBUG):  # one line per operation at DEBUG (with trace ids while tracing is on)
            log.debug("graphql operation", extra={"operation": label, "duration_ms": round(elapsed * 1000, 2),
                                                  "errors": len(errors)})
        self.metrics.latency.labels(label).observe(elapsed)
        self.metrics.requests.labels(label).inc()
        for error in errors:
            self.metrics.errors.labels(label, error["extensions"]["code"]).inc()

    async def _read(self, request: AnyRequest) -> tuple[str | None, dict[str, Any] | None, str | None, Any]:
        if request.method == "GET":
            params = request.query_params
            variables = self._decode(params["variables"], "`variables`") if params.get("variables") else None
            extensions = self._decode(params["extensions"], "`extensions`") if params.get("extensions") else None
            return (*self._validate(params.get("query"), variables, params.get("operationName"), extensions),
                    extensions)
        if request.method != "POST":
            raise BadRequest("Use GET for queries or POST for any operation.", 405, "METHOD_NOT_ALLOWED")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in {"application/json", "application/graphql-response+json"}:
            # A JSON content type cannot be sent cross-site without a CORS preflight: this is CSRF protection.
            raise BadRequest("POST bodies must be `application/json`.", 415, "UNSUPPORTED_MEDIA_TYPE")
        body = await self._body(request)
        data = self._decode(body)
        if isinstance(data, list):
            raise BadRequest("Batched requests are not supported; send one operation per request.")
        if not isinstance(data, dict):
            raise BadRequest("The body must be a JSON object with `query`.")
        extensions = data.get("extensions")
        return (*self._validate(data.get("query"), data.get("variables"), data.get("operationName"), extensions),
                extensions)

    async def _body(self, request: AnyRequest) -> bytes:
        limit = self.services.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise BadRequest(f"The body exceeds {limit} bytes.", 413, "PAYLOAD_TOO_LARGE")
        # The ASGI messages themselves (what ``request.stream()`` does, without its generator): usually one.
        chunks, size = [], 0
        receive = request.receive
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BadRequest(f"The body exceeds {limit} bytes.", 413, "PAYLOAD_TOO_LARGE")
            if not message.get("more_body", False):
                return chunk if not chunks else b"".join((*chunks, chunk))
            chunks.append(chunk)

    @staticmethod
    def _decode(raw: bytes | str, what: str = "The body") -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"{what} is not valid JSON: {exc}") from exc

    def _validate(self, query: Any, variables: Any, operation_name: Any,
                  extensions: Any) -> tuple[str | None, dict[str, Any] | None, str | None]:
        persisted = isinstance(extensions, dict) and "persistedQuery" in extensions
        limit = self.services.settings.max_document_bytes
        if query is None and persisted:
            pass  # the document is named by its hash
        elif not isinstance(query, str):
            raise BadRequest("`query` must be a non-empty string.")
        elif too_large(query, limit):  # before anything hashes, parses, caches or stores it
            raise BadRequest(f"The GraphQL document exceeds {limit} bytes (MAX_DOCUMENT_BYTES).", 413,
                             DOCUMENT_TOO_LARGE)
        elif not query.strip():
            raise BadRequest("`query` must be a non-empty string.")
        if extensions is not None and not isinstance(extensions, dict):
            raise BadRequest("`extensions` must be a JSON object.")
        if variables is not None and not isinstance(variables, dict):
            raise BadRequest("`variables` must be a JSON object.")
        if operation_name is not None and not isinstance(operation_name, str):
            raise BadRequest("`operationName` must be a string.")
        return query, variables, operation_name

    def _label(self, operation_name: str | None) -> str:
        if not operation_name or not OPERATION_NAME_RE.match(operation_name):
            return "anonymous"
        if operation_name not in self._operation_labels:
            if len(self._operation_labels) >= MAX_METRIC_OPERATIONS:
                return "other"
            self._operation_labels.add(operation_name)
        return operation_name

    @staticmethod
    def _format(error: GraphQLError, request_id: str) -> dict[str, Any]:
        if not is_client_error(error):
            return {
                "message": "Internal server error.",
                "path": error.path,
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            }
        formatted = error.formatted
        extensions = dict(formatted.get("extensions") or {})
        if "code" not in extensions:
            extensions["code"] = _classify(error)
        formatted["extensions"] = extensions
        return formatted

    def _apply_cookie(self, response: Response, ctx: Context) -> None:
        if ctx.cookie is None:
            return
        settings = self.services.settings
        secure = settings.public_base_url.startswith("https://")
        if ctx.cookie.value is None:
            response.delete_cookie(settings.session_cookie_name, path="/", secure=secure, httponly=True, samesite="lax")
        else:
            response.set_cookie(
                settings.session_cookie_name, ctx.cookie.value, max_age=ctx.cookie.max_age, path="/",
                secure=secure, httponly=True, samesite="lax",
            )


@dataclass(frozen=True, slots=True)
class _Errors:
    """What ``CodexSchema.process_errors`` reads of strawberry's execution context (grafts have none)."""

    context: Context


NO_STORE = (b"cache-control", b"no-store")
# The security headers of a JSON response (web_security), by HSTS on or off.
JSON_SECURITY_HEADERS = {hsts: tuple(add_security_headers([], hsts)) for hsts in (False, True)}
_REPLACED = frozenset((b"x-request-id", b"cache-control"))


def _final_headers(raw: list[tuple[bytes, bytes]], request_id: str) -> list[tuple[bytes, bytes]]:
    """The response's raw headers with ``x-request-id`` and ``cache-control: no-store`` (replacing any)."""
    if any(name in _REPLACED for name, _ in raw):
        raw = [(name, value) for name, value in raw if name not in _REPLACED]
    raw.append((b"x-request-id", request_id.encode("latin-1")))
    raw.append(NO_STORE)
    return raw


def _document_operation_name(query: str) -> str | None:
    match = DOCUMENT_OPERATION_RE.search(query)
    return match.group(1) if match else None


def _classify(error: GraphQLError) -> str:
    message = error.message
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if message.startswith("Variable ") or "got invalid value" in message:
        return "BAD_USER_INPUT"
    if "can only be" in message or "not allowed" in message.lower():
        return "OPERATION_NOT_ALLOWED"
    return "GRAPHQL_VALIDATION_FAILED"
