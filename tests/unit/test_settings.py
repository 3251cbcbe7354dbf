from __future__ import annotations

from pathlib import Path

import pytest

from slipway.errors import InvalidArgument
from slipway.settings import Settings


def test_defaults_derive_from_home(tmp_path: Path) -> None:
    s = Settings.load(env={}, home=tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path}/slipway.db"
    assert s.artifact_url == f"file://{tmp_path}/artifacts"
    assert (s.host, s.port, s.url) == ("127.0.0.1", 8080, "http://127.0.0.1:8080")


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('port = 7000\nlog_level = "debug"\nhost = "0.0.0.0"\n')
    s = Settings.load(env={}, home=tmp_path)
    assert (s.port, s.log_level, s.url) == (7000, "debug", "http://127.0.0.1:7000")
    s = Settings.load(env={"SLIPWAY_PORT": "7100"}, home=tmp_path)
    assert s.port == 7100
    s = Settings.load(env={"SLIPWAY_PORT": "7100"}, home=tmp_path, port=7200)
    assert s.port == 7200


def test_home_from_env(tmp_path: Path) -> None:
    assert Settings.load(env={"SLIPWAY_HOME": str(tmp_path / "h")}).home == tmp_path / "h"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SLIPWAY_PORT": "abc"}, "Setting 'port' has value 'abc'. Not a valid int."),
        ({"SLIPWAY_PORT": "70000"}, "Setting 'port' has value 70000"),
        ({"SLIPWAY_LOG_LEVEL": "loud"}, "Setting 'log_level' has value 'loud'"),
        ({"SLIPWAY_PAGE_SIZE": "0"}, "Setting 'page_size' has value 0"),
        ({"SLIPWAY_INSPECT_TIMEOUT": "0"}, "Setting 'inspect_timeout' has value 0.0. Expected a number greater than 0."),
        ({"SLIPWAY_INSPECT_MEMORY_LIMIT_MB": "-1"}, "Setting 'inspect_memory_limit_mb' has value -1. Expected an int"),
    ],
)
def test_bad_values_name_the_setting(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(".", r"\.")):
        Settings.load(env=env, home=tmp_path)


def test_bad_config_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("port = \n")
    with pytest.raises(InvalidArgument, match="not valid TOML"):
        Settings.load(env={}, home=tmp_path)
    (tmp_path / "config.toml").write_text("colour = 'red'\n")
    with pytest.raises(InvalidArgument, match="Unknown setting 'colour'"):
        Settings.load(env={}, home=tmp_path)


def test_every_setting_is_documented() -> None:
    from dataclasses import fields

    from slipway.settings import SETTINGS_DOC

    assert {f.name for f in fields(Settings)} == set(SETTINGS_DOC)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for name in SETTINGS_DOC:
        assert f"`{name}`" in doc, f"setting {name} missing from docs/configuration.md"
