"""Codex GraphQL: one typed GraphQL API for organizations that sell video and audio, and their customers.

Request path: ``app`` (middleware, routes) -> ``graphql_http`` / ``graphql_ws`` -> the compiled path
(``fastpath``, per root field) or the strawberry ``schema`` -> each domain's services -> repositories
-> PostgreSQL under row-level security in the viewer's tenant scope (``db``). Event path: services
write outbox rows in the same transaction (``events``); the relay sends them to the Dramatiq workers
(``workers/``) and to Redis streams for subscriptions. The map: docs/architecture.md."""
