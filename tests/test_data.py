"""`cocogen data` against a real HTTP server on 127.0.0.1 serving the shared data folder."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cocogen import data
from cocogen.cli import main
from cocogen.errors import DataError


@pytest.fixture()
def mirror(data_dir: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(data_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_download_then_verify_then_nothing_to_do(mirror: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "data"
    report = data.download(root, base_url=mirror, only=["explagraphs", "propara"])
    assert report["ok"], report
    assert {r["status"] for r in report["files"]} == {"downloaded"}
    assert data.verify(root, only=["explagraphs", "propara"])["ok"]
    again = data.download(root, base_url=mirror, only=["explagraphs", "propara"])
    assert {r["status"] for r in again["files"]} == {"present"}


def test_cli_download_all_into_env_data_dir(mirror: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("COCOGEN_DATA_DIR", str(tmp_path / "d"))
    assert main(["data", "download", "--base-url", mirror, "--json"]) == 0
    assert main(["data", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"{len(data.MANIFEST)}/{len(data.MANIFEST)} files verified" in out


def test_corrupted_file_is_detected_and_replaced(mirror: str, tmp_path: Path) -> None:
    root = tmp_path / "data"
    data.download(root, base_url=mirror, only=["explagraphs"])
    target = root / "explagraphs" / "relations.txt"
    target.write_text("is a\n")
    rows = {r["path"]: r["status"] for r in data.verify(root, only=["explagraphs"])["files"]}
    assert rows["explagraphs/relations.txt"] == "modified"
    data.download(root, base_url=mirror, only=["explagraphs"])
    assert data.verify(root, only=["explagraphs"])["ok"]


def test_mirror_with_wrong_content_is_rejected(tmp_path: Path, data_dir: Path) -> None:
    fake = tmp_path / "mirror"
    shutil.copytree(data_dir / "explagraphs", fake / "explagraphs")
    (fake / "explagraphs" / "dev.tsv").write_text("tampered\n")
    handler = functools.partial(_QuietHandler, directory=str(fake))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        report = data.download(tmp_path / "d", base_url=f"http://127.0.0.1:{server.server_address[1]}", only=["explagraphs"])
    finally:
        server.shutdown()
        server.server_close()
    failed = [r for r in report["files"] if r["status"] == "failed"]
    assert [r["path"] for r in failed] == ["explagraphs/dev.tsv"]
    assert "SHA-256" in failed[0]["error"]
    assert not (tmp_path / "d" / "explagraphs" / "dev.tsv").exists()
    assert not report["ok"]


def test_dead_server_gives_a_clear_error(tmp_path: Path) -> None:
    report = data.download(tmp_path, base_url="http://127.0.0.1:9", only=["explagraphs"])
    assert not report["ok"]
    assert all("Cannot reach" in r["error"] for r in report["files"])


def test_unknown_dataset_and_missing_file_messages(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Unknown dataset"):
        data.verify(tmp_path, only=["nope"])
    with pytest.raises(DataError) as err:
        data.require("explagraphs/dev.tsv", tmp_path)
    assert str(tmp_path / "explagraphs" / "dev.tsv") in str(err.value)
    assert "cocogen data download" in err.value.user_message()
