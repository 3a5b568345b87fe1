"""`movies_api.asgi:create_from_env`: the app factory each uvicorn worker process calls."""

from __future__ import annotations

from starlette.applications import Starlette

from .app import create_app
from .aws_secrets import resolve_secrets
from .settings import load_settings


def create_from_env() -> Starlette:
    settings, redis_password = resolve_secrets(load_settings())
    return create_app(settings, redis_password=redis_password)
