"""Downloads that break off and resume (HTTP Range), report progress, and take their mirror from the environment.

The server (:mod:`tests.fakes.file_server`) is a real ``http.server`` on 127.0.0.1 serving the
shared data folder, with Range support and a fault: the first request for a file is cut.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cocogen import data
from cocogen.cli import main
from tests.fakes.file_server import Mirror, closed_url, serve_files

CUT_FILE = "explagraphs/train.tsv"
CUT_AT = 100_000


@pytest.fixture()
def mirror(data_dir: Path) -> Iterator[Mirror]:
    with serve_files(data_dir) as m:
        yield m


def test_a_broken_download_keeps_its_part_and_the_next_one_resumes_it(mirror: Mirror, tmp_path: Path) -> None:
    mirror.cut[CUT_FILE] = CUT_AT
    first = data.download(tmp_path, base_url=mirror.url, only=["explagraphs"])
    failed = [r for r in first["files"] if r["status"] == "failed"]
    assert [r["path"] for r in failed] == [CUT_FILE]
    assert f"broke off after {CUT_AT:,} of 710,566 bytes" in failed[0]["error"]
    part = data.partial_path(tmp_path / CUT_FILE)
    assert part.stat().st_size == CUT_AT and not (tmp_path / CUT_FILE).exists()

    second = data.download(tmp_path, base_url=mirror.url, only=["explagraphs"])
    assert second["ok"], second
    assert (CUT_FILE, f"bytes={CUT_AT}-") in mirror.requests, "the second try asked only for the rest"
    assert data.verify(tmp_path, only=["explagraphs"])["ok"] and not part.exists()


def test_a_server_without_range_support_sends_the_whole_file_again(data_dir: Path, tmp_path: Path) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(data_dir))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    part = data.partial_path(tmp_path / "explagraphs" / "relations.txt")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage that a resume would keep")
    try:
        report = data.download(tmp_path, base_url=f"http://127.0.0.1:{server.server_address[1]}", only=["explagraphs"])
    finally:
        server.shutdown()
        server.server_close()
    assert report["ok"], report
    assert data.verify(tmp_path, only=["explagraphs"])["ok"]


def test_progress_counts_every_byte_up_to_the_total(mirror: Mirror, tmp_path: Path) -> None:
    calls: list[tuple[int, int, str]] = []
    report = data.download(tmp_path, base_url=mirror.url, only=["propara"], progress=lambda *a: calls.append(a))
    assert report["ok"]
    total = sum(f.size for f in data.MANIFEST if f.dataset == "propara")
    assert {c[1] for c in calls} == {total}
    done = [c[0] for c in calls]
    assert done == sorted(done) and done[-1] == total
    assert {c[2] for c in calls} == {f.path for f in data.MANIFEST if f.dataset == "propara"}
    assert data.missing(tmp_path, only=["propara"]) == [] and data.download_size(tmp_path, only=["propara"]) == 0


def test_the_mirror_comes_from_the_environment(mirror: Mirror, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("COCOGEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(data.DATA_URL_ENV, mirror.url)
    assert main(["data", "download", "--only", "explagraphs"]) == 0
    assert {p for p, _ in mirror.requests} == {f.path for f in data.MANIFEST if f.dataset == "explagraphs"}


def test_no_network_is_one_sentence_per_file_and_exit_1(tmp_path: Path, monkeypatch, capsys) -> None:
    closed = closed_url()
    monkeypatch.setenv("COCOGEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(data.DATA_URL_ENV, closed)
    assert main(["data", "download", "--only", "explagraphs"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all("Cannot reach" in line and line.rstrip().endswith(".") for line in err)
    assert not list(tmp_path.rglob("*.part")), "nothing came, so nothing is kept"


def test_a_second_download_into_the_same_folder_refuses_while_one_runs(mirror: Mirror, tmp_path: Path) -> None:
    import portalocker

    from cocogen.errors import DataError

    tmp_path.joinpath(data.LOCK_NAME).touch()
    with open(tmp_path / data.LOCK_NAME, "a") as held:
        portalocker.lock(held, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
        with pytest.raises(DataError, match="Another download into this folder is under way"):
            data.download(tmp_path, base_url=mirror.url, only=["explagraphs"])
        assert mirror.requests == [], "nothing was fetched"
    assert data.download(tmp_path, base_url=mirror.url, only=["explagraphs"])["ok"], "free again once released"
