"""HTTP endpoints behind the local backend's signed URLs: ``PUT``/``GET``/``HEAD /storage/{key}``.

Refusals are JSON ``{"error": ...}``: 403 for a bad signature, an expired URL, the wrong operation or a
write to anything but a staging key (or a read of one), 400 when a PUT does not match the signed size or
content type, 409 for a second PUT to a used upload URL, 413 past the size limit, 404 for a missing object
or upload. GET serves the file through Starlette's FileResponse, which answers ``Range`` requests with 206
(and 416 when unsatisfiable), with the content type checked and stored with the object (never guessed
from the bytes), ``Content-Disposition`` (``attachment`` with the signed file name, ``inline`` otherwise),
``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: default-src 'none'; sandbox``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from codex_graphql.storage.local import LocalStorage, SignedUrlError
from codex_graphql.storage.s3 import content_disposition

# Served bytes come from uploaders: never let a browser treat them as a page of this origin.
_SAFE_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cache-control": "private, max-age=300",
}


def _refuse(exc: SignedUrlError) -> Response:
    return JSONResponse({"error": exc.error}, status_code=exc.status, headers={"cache-control": "no-store"})


def storage_routes(storage: LocalStorage) -> list[Route]:
    async def upload(request: Request) -> Response:
        key = request.path_params["key"]
        try:
            grant = storage.verify(key, request.query_params, allowed_ops=("put", "part"))
            content_length = request.headers.get("content-length")
            if grant.op == "put":
                etag = await storage.receive_object(
                    grant, request.headers.get("content-type"), content_length, request.stream()
                )
            else:
                etag = await storage.receive_part(grant, content_length, request.stream())
        except SignedUrlError as exc:
            return _refuse(exc)
        return Response(status_code=200, headers={"etag": etag, "access-control-expose-headers": "ETag"})

    async def download(request: Request) -> Response:
        key = request.path_params["key"]
        try:
            grant = storage.verify(key, request.query_params, allowed_ops=("get",))
        except SignedUrlError as exc:
            return _refuse(exc)
        path = storage.object_path(key)
        try:
            stat_result = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return _refuse(SignedUrlError(404, "not found"))
        if not path.is_file():
            return _refuse(SignedUrlError(404, "not found"))
        disposition = content_disposition(grant.filename) if grant.filename is not None else "inline"
        return FileResponse(
            path,
            media_type=grant.content_type or storage.content_type(key) or "application/octet-stream",
            stat_result=stat_result,
            # A signed URL is its own credential (no cookie is read), so any origin's player may fetch it.
            headers={**_SAFE_HEADERS, "content-disposition": disposition, "access-control-allow-origin": "*"},
        )

    return [
        Route("/storage/{key:path}", upload, methods=["PUT"]),
        Route("/storage/{key:path}", download, methods=["GET", "HEAD"]),
    ]
