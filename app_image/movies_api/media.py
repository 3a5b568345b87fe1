"""Posters in S3: presigned uploads for writers, and redirects to the CDN or a presigned GET."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from .settings import Settings

CONTENT_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
MAX_POSTER_BYTES = 5 * 1024 * 1024


def make_s3_client(settings: Settings) -> Any:
    # Imported here: a stage without a media bucket never makes the client, and boto3 is
    # a tenth of a CPU-second of every API process's start.
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.aws_region or "us-east-1",
        config=Config(signature_version="s3v4", retries={"max_attempts": 2}),
    )


@dataclass
class Media:
    settings: Settings
    s3: Any

    @property
    def enabled(self) -> bool:
        return bool(self.settings.media_bucket)

    def poster_key(self, movie_id: int, content_type: str) -> str:
        # A fresh key per upload: CDN and browser copies of the old poster never go stale.
        return f"posters/{movie_id}/{secrets.token_hex(8)}.{CONTENT_TYPES[content_type]}"

    def poster_url(self, key: str) -> str:
        if self.settings.cdn_base_url:
            return f"{self.settings.cdn_base_url}/{key}"
        return self.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.settings.media_bucket, "Key": key},
            ExpiresIn=self.settings.presign_seconds,
        )

    def upload_form(self, key: str, content_type: str) -> dict[str, Any]:
        """A presigned POST: unlike a presigned PUT it can cap the size and pin the type."""
        return self.s3.generate_presigned_post(
            Bucket=self.settings.media_bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, MAX_POSTER_BYTES],
            ],
            ExpiresIn=self.settings.presign_seconds,
        )
