from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from archiver.cli import main
from archiver.config import load_config
from archiver.errors import UsageError
from archiver.models import AssetKind


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults() -> None:
    config = load_config({}, {})
    assert (config.jobs, config.api_jobs, config.give_up_after, config.id3_version) == (8, 4, 5, 3)
    assert config.dest == Path("suno-archive") and config.base_url == "https://api.piapi.ai"
    assert config.assets == frozenset(AssetKind)


def test_flags_win_over_env_over_file(tmp_path: Path) -> None:
    name = _write(tmp_path, 'base_url = "http://file"\njobs = 3\nassets = "audio,image"\n')
    env = {"PIAPI_BASE_URL": "http://env"}
    assert load_config({}, env, name).base_url == "http://env"
    assert load_config({"base_url": "http://flag"}, env, name).base_url == "http://flag"
    config = load_config({"jobs": "5"}, {}, name)
    assert config.base_url == "http://file" and config.jobs == 5
    assert config.assets == {AssetKind.AUDIO, AssetKind.IMAGE}


def test_xdg_config_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "suno-archiver"
    folder.mkdir()
    (folder / "config.toml").write_text("api_jobs = 2\nid3_version = '2.4'\n")
    config = load_config({}, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert config.api_jobs == 2 and config.id3_version == 4


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    name = _write(tmp_path, "jobz = 3\n")
    err = io.StringIO()
    assert main(["status", "--config", name], stderr=err) == 2
    assert "'jobz'" in err.getvalue() and name in err.getvalue()


@pytest.mark.parametrize(
    ("flags", "text", "message"),
    [
        ({"jobs": "0"}, "", "--jobs: invalid value '0'"),
        ({}, "jobs = -1\n", "jobs in"),
        ({}, "assets = ['audio', 'lyrics']\n", "assets in"),
        ({}, "id3_version = '2.2'\n", "id3_version in"),
        ({}, "jobs = [\n", "not valid TOML"),
        ({"output": "{title}.mp3"}, "", "{ext}"),
    ],
)
def test_bad_values_are_usage_errors(
    tmp_path: Path, flags: dict[str, str], text: str, message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        load_config(flags, {}, _write(tmp_path, text))
    assert message in str(caught.value)


def test_missing_config_file_named_by_flag_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read config file"):
        load_config({}, {}, str(tmp_path / "nope.toml"))


def test_key_from_env_file_and_command(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    name = _write(tmp_path, f'api_key_file = "{key_file}"\n')
    assert load_config({}, {"PIAPI_API_KEY": "sk-env"}, name).key.resolve().reveal() == "sk-env"
    assert load_config({}, {}, name).key.resolve().reveal() == "sk-from-file"
    command = f'api_key_command = "{sys.executable} -c \'print(12345)\'"\n'
    assert load_config({}, {}, _write(tmp_path, command)).key.resolve().reveal() == "12345"


def test_key_problems_are_usage_errors_without_the_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="PIAPI_API_KEY"):
        load_config({}, {}).key.resolve()
    failing = _write(tmp_path, 'api_key_command = "false"\n')
    with pytest.raises(UsageError, match="exited with status 1"):
        load_config({}, {}, failing).key.resolve()
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(UsageError, match="empty key"):
        load_config({}, {}, _write(tmp_path, f'api_key_file = "{empty}"\n')).key.resolve()
