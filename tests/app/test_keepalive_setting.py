"""MOVIES_HTTP_KEEPALIVE_S reaches uvicorn's timeout_keep_alive (issue 11, item 3).

The ALB in front reuses idle connections up to its idle timeout (60 s by default); a
service that closes them sooner (uvicorn's own default is 5 s) gets 502s at the ALB.
`python -m lab fault keepalive` shows the 502s; this pins the setting's plumbing.
"""

from __future__ import annotations

import argparse

import pytest
from movies_api import __main__ as cli
from movies_api.settings import SettingsError, load_settings

DB = {"MOVIES_DATABASE_URL": "postgresql://u@127.0.0.1:5432/movies"}


def test_default_keep_alive_outlasts_the_albs_default_idle_timeout():
    assert load_settings(DB).http_keepalive_seconds == 75 > 60


def test_keep_alive_is_read_from_the_environment():
    assert load_settings({**DB, "MOVIES_HTTP_KEEPALIVE_S": "125"}).http_keepalive_seconds == 125


@pytest.mark.parametrize("raw", ["soon", "0", "-5", "4101", "7.5"])
def test_a_bad_keep_alive_is_one_line_naming_the_variable(raw):
    with pytest.raises(SettingsError) as err:
        load_settings({**DB, "MOVIES_HTTP_KEEPALIVE_S": raw})
    message = str(err.value)
    assert "MOVIES_HTTP_KEEPALIVE_S" in message and "1..4100" in message
    assert "\n" not in message


@pytest.mark.parametrize("workers", [1, 3])
def test_serve_passes_the_keep_alive_to_uvicorn(monkeypatch, workers):
    import uvicorn

    seen: dict[str, object] = {}
    settings = load_settings({**DB, "MOVIES_HTTP_KEEPALIVE_S": "90"})
    monkeypatch.setattr(cli, "_settings", lambda need_db=True: (settings, None))
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setattr("movies_api.app.create_app", lambda *a, **k: object())
    args = argparse.Namespace(
        host="127.0.0.1", port=8000, log_level="info", access_log=False, workers=workers
    )
    assert cli.cmd_serve(args) == 0
    assert seen["timeout_keep_alive"] == 90
