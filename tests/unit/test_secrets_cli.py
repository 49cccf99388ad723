"""`keymgr secrets` argument handling without a cluster: names, data, durations."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from keymgr.cli.common import CliError, duration
from keymgr.cli.main import build_parser
from keymgr.cli.secrets_cmd import parse_data, split_name, version_list


def _name(path: str, mount: str = "") -> argparse.Namespace:
    return argparse.Namespace(path=path, mount=mount)


def test_names_as_bao_kv_takes_them() -> None:
    assert split_name(_name("secret/apps/web")) == ("secret", "apps/web")
    assert split_name(_name("apps/web", "secret")) == ("secret", "apps/web")
    assert split_name(_name("secret/apps", ""), folder=True) == ("secret", "apps/")
    assert split_name(_name("secret/apps/", ""), folder=True) == ("secret", "apps/")
    assert split_name(_name("secret", ""), folder=True) == ("secret", "")
    assert split_name(_name("", "secret"), folder=True) == ("secret", "")
    for bad in ("secret", "/apps/web", "secret/"):
        with pytest.raises(CliError):
            split_name(_name(bad))


def test_data_from_pairs_files_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")
    assert parse_data(["a=1", "b=x=y", f"c=@{secret_file}"]) == {
        "a": "1",
        "b": "x=y",
        "c": "from-file\n",
    }
    monkeypatch.setattr("sys.stdin", io.StringIO('{"n": 2, "nested": {"k": true}}'))
    assert parse_data(["-"]) == {"n": 2, "nested": {"k": True}}
    monkeypatch.setattr("sys.stdin", io.StringIO("[1]"))
    with pytest.raises(CliError, match="JSON object"):
        parse_data(["-"])
    for bad in ([], ["novalue"], ["=x"], [f"a=@{tmp_path / 'missing'}"]):
        with pytest.raises(CliError):
            parse_data(bad)


def test_a_refused_pair_does_not_echo_its_value() -> None:
    with pytest.raises(CliError) as refused:
        parse_data(["s3cr3t-without-equals-sign-but-long"])
    assert "s3cr3t-without-equals-sign-but-long" not in str(refused.value)


def test_durations_and_versions() -> None:
    assert [duration(t) for t in ("90", "90s", "15m", "1h", "7d")] == [90, 90, 900, 3600, 604800]
    assert version_list("1,2, 3") == [1, 2, 3]
    for bad in ("soon", "1w", "-1h"):
        with pytest.raises(argparse.ArgumentTypeError):
            duration(bad)
    for bad in ("", "0", "a,b", "1,-2"):
        with pytest.raises(argparse.ArgumentTypeError):
            version_list(bad)


def test_single_and_double_dash_flags_parse_alike() -> None:
    parser = build_parser()
    one = parser.parse_args(["secrets", "get", "-mount=secret", "-version=2", "-field=pw", "a"])
    two = parser.parse_args(
        ["secrets", "get", "--mount", "secret", "--version", "2", "--field", "pw", "a"]
    )
    assert (
        (one.mount, one.version, one.field)
        == (two.mount, two.version, two.field)
        == ("secret", 2, "pw")
    )
    put = parser.parse_args(["secrets", "put", "-cas=0", "secret/a", "k=v"])
    assert put.cas == 0 and put.data == ["k=v"]
