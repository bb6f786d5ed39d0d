"""Pick the storage backend from settings."""

from __future__ import annotations

from codex_graphql.settings import Settings
from codex_graphql.storage import Storage
from codex_graphql.storage.local import LocalStorage
from codex_graphql.storage.s3 import S3Storage


def build_storage(settings: Settings) -> Storage:
    if settings.storage_backend == "s3":
        return S3Storage(
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url,
            access_key=settings.aws_access_key_id,
            secret_key=settings.aws_secret_access_key,
        )
    if settings.storage_backend == "local":
        return LocalStorage(
            root=settings.data_dir / "storage",
            base_url=settings.public_base_url,
            secret_key=settings.secret_key,
            max_object_bytes=settings.storage_max_object_bytes,
        )
    raise ValueError(f"unknown storage backend {settings.storage_backend!r}")
