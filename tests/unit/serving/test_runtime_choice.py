"""The replica runtime named by ``serving_runtime_url``: local by default, Ray by URL, a clear error otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.errors import InvalidArgument, Unavailable
from slipway.serving.runtime import ServingRuntime, open_serving_runtime
from slipway.settings import Settings
from slipway.storage import open_store


def _runtime(tmp_path: Path, url: str) -> ServingRuntime:
    settings = Settings.load(env={}, home=tmp_path / "home", serving_runtime_url=url)
    return open_serving_runtime(settings, open_store(f"file://{tmp_path / 'store'}"))


def test_local_is_the_default_and_says_so(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, "local")
    assert type(runtime) is ServingRuntime
    assert runtime.describe() == "local: replica processes on this machine"


def test_the_warm_spare_is_kept_unless_the_setting_turns_it_off(tmp_path: Path) -> None:
    on = _runtime(tmp_path / "on", "local")
    off = open_serving_runtime(Settings.load(env={"SLIPWAY_WARM_SPARE": "off"}, home=tmp_path / "off" / "home"),
                               open_store(f"file://{tmp_path / 'off' / 'store'}"))
    try:
        on.prepare_standby()
        off.prepare_standby()
        assert on._standby is not None and on._standby[0].poll() is None
        assert off._standby is None
    finally:
        on.close()
        off.close()
    assert on._standby is None


@pytest.mark.parametrize("url", ["kubernetes://cluster", "ray", "ray://head-without-port", "ray+gcs://:6379"])
def test_an_unknown_or_incomplete_url_names_the_setting_and_what_it_expects(tmp_path: Path, url: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        _runtime(tmp_path, url)
    assert err.value.details["field"] == "serving_runtime_url"
    assert "ray://HOST:PORT" in str(err.value)


def test_ray_url_is_shown_without_its_password_and_an_unreachable_head_is_named(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    runtime = _runtime(tmp_path, f"ray://ops:hunter2@127.0.0.1:{port}")
    assert runtime.describe() == f"ray: ray://ops:***@127.0.0.1:{port} (a Ray actor per replica)"
    with pytest.raises(Unavailable) as err:
        runtime.check()
    message = str(err.value)
    assert f"Cannot reach the Ray cluster at ray://ops:***@127.0.0.1:{port}" in message
    assert "hunter2" not in message and err.value.details["field"] == "serving_runtime_url"
