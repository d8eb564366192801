"""The datasets: where they live, how to fetch them from their public repositories, and a check.

Files are fetched into :func:`cocogen.settings.data_dir` with the layout

    cocogen/{data,outputs}/...   CoCoGen's task files, prompts and recorded Codex outputs
    explagraphs/...              ExplaGraphs (MIT)
    propara/...                  ProPara grids and leaderboard answers (Apache-2.0)

Each file is pinned to a commit and a SHA-256, so ``verify`` can tell a complete,
unmodified copy from a partial or edited one.  Nothing from these datasets ships with
the project; the app and CLI download them on request.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocogen.errors import DataError
from cocogen.settings import data_dir

__all__ = ["DataFile", "MANIFEST", "data_dir", "download", "verify", "require", "missing", "download_size", "partial_path"]

_COCOGEN = ("reasoning-machines/CoCoGen", "bd38f89955fcb30eaf4f824191d5be902c725966")
_EXPLAGRAPHS = ("swarnaHub/ExplaGraphs", "67ecab19d9a13ab91e09e99bd94e0480b705c1b7")
_PROPARA = ("allenai/propara", "51a3cccbedcbe5f92276f9925e0ce1e6ec4247bb")
_LEADERBOARD = ("allenai/aristo-leaderboard", "60d5be31b5a7d36f29d13223ece29a8d2bfa8b5f")
GITHUB_RAW = "https://raw.githubusercontent.com"
DOWNLOAD_TIMEOUT = 60.0


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the data dir
    dataset: str
    repo: str
    commit: str
    remote_path: str
    sha256: str
    size: int

    def url(self, base_url: str | None = None) -> str:
        if base_url:  # a mirror laid out like the data dir
            return f"{base_url.rstrip('/')}/{self.path}"
        return f"{GITHUB_RAW}/{self.repo}/{self.commit}/{self.remote_path}"


def _f(path: str, dataset: str, src: tuple[str, str], remote: str, sha: str, size: int) -> DataFile:
    return DataFile(path, dataset, src[0], src[1], remote, sha, size)


MANIFEST: tuple[DataFile, ...] = (
    # fmt: off
    _f("cocogen/data/explagraphs/dev.jsonl", "cocogen", _COCOGEN, "data/explagraphs/dev.jsonl", "677760bfb3dd2473c5de251fb9126d591e83ec2dedb7218f16699d44bdbbe7ed", 1018088),
    _f("cocogen/data/explagraphs/prompt.txt", "cocogen", _COCOGEN, "data/explagraphs/prompt.txt", "0a09ab2185dc25e19d5cb951d00ed8b8282e28bf905c22cb9c6546a9410f8872", 13810),
    _f("cocogen/data/propara/baseline_text_prompt.txt", "cocogen", _COCOGEN, "data/propara/baseline_text_prompt.txt", "651654966bf5c33f8d34703d8bafe9ecf0ff72fb615d2b5c0a913ab46c420b88", 5313),
    _f("cocogen/data/propara/prompt.txt", "cocogen", _COCOGEN, "data/propara/prompt.txt", "ea08479f7d881f8645e7ae5ffebd5195c3fa0f35547623cc1559322f35f6d730", 6486),
    _f("cocogen/data/propara/test.jsonl", "cocogen", _COCOGEN, "data/propara/test.jsonl", "d10cefc6071debed11f1e1984fa1cc524f86b028a83b4380949033ad93f74a16", 283592),
    _f("cocogen/data/proscript_edge_prediction/dev.jsonl", "cocogen", _COCOGEN, "data/proscript_edge_prediction/dev.jsonl", "841386f34009b918c7a2dd1abf5c7e7955306f1fe0803560b058f1ff2116ddc3", 3661495),
    _f("cocogen/data/proscript_edge_prediction/prompt.txt", "cocogen", _COCOGEN, "data/proscript_edge_prediction/prompt.txt", "598943e60d5e68db35b2f6a41c95e1a952efe8c7de161591fefe86930bea4da2", 12261),
    _f("cocogen/data/proscript_script_generation/dev.jsonl", "cocogen", _COCOGEN, "data/proscript_script_generation/dev.jsonl", "610cd49343c949a665ce7a3f73ad1c3551447f72b7bc3fabe0503690b797d518", 3107895),
    _f("cocogen/data/proscript_script_generation/prompt.txt", "cocogen", _COCOGEN, "data/proscript_script_generation/prompt.txt", "d6b0b25117d212d7dff1cca1e603aa17c4cde25b19fc7e620bf076725463bc24", 12697),
    _f("cocogen/outputs/explagraphs/dev_output.jsonl", "cocogen", _COCOGEN, "outputs/explagraphs/dev_output.jsonl", "677760bfb3dd2473c5de251fb9126d591e83ec2dedb7218f16699d44bdbbe7ed", 1018088),
    _f("cocogen/outputs/propara/code-davinci-002.test_output.no_init.p1.func.t600.jsonl", "cocogen", _COCOGEN, "outputs/propara/code-davinci-002.test_output.no_init.p1.func.t600.jsonl", "6349206122f61a04fba684d907860820a042481ddf7ad241612c03736d3aef00", 553515),
    _f("explagraphs/train.tsv", "explagraphs", _EXPLAGRAPHS, "data/train.tsv", "83eb96f38b1d91d0299924f6050c3ec173a7c5c5a7a3921908cc7fd46d27bba3", 710566),
    _f("explagraphs/dev.tsv", "explagraphs", _EXPLAGRAPHS, "data/dev.tsv", "1b7e069501cf6f2d7f5d98fe6f0950ee8bd9a0f1986054ecb23873854993745a", 117361),
    _f("explagraphs/test_no_labels.tsv", "explagraphs", _EXPLAGRAPHS, "data/test_no_labels.tsv", "e36bdd57fb603e6c8fa8106ecce9dc881ca29aa732d37733293ec2b8e1f3af9f", 42936),
    _f("explagraphs/relations.txt", "explagraphs", _EXPLAGRAPHS, "data/relations.txt", "fa067901224e660573cb67ea691a96d3d21e20440f1f94ae26341ae645ab799d", 339),
    _f("propara/emnlp18/grids.v1.train.json", "propara", _PROPARA, "data/emnlp18/grids.v1.train.json", "6dc048d09c532ef906ba37d5ab814f54c54e56f230184029912eabe415de225d", 268339),
    _f("propara/emnlp18/grids.v1.dev.json", "propara", _PROPARA, "data/emnlp18/grids.v1.dev.json", "580ddc66d86a89c747d3e7f2da5cca0eee95444cca66b60b345fe29c93c3fef6", 30086),
    _f("propara/emnlp18/grids.v1.test.json", "propara", _PROPARA, "data/emnlp18/grids.v1.test.json", "cf239a45d3eb203aba09ec392cffc81812e5c6fde69d782b01d068efd9e6f370", 40845),
    _f("propara/leaderboard/train/answers.tsv", "propara", _LEADERBOARD, "propara/data/train/answers.tsv", "2f2b014aa071583f9180cd8487c855438821abe1c9aae5474ac685854934e8cd", 321828),
    _f("propara/leaderboard/dev/answers.tsv", "propara", _LEADERBOARD, "propara/data/dev/answers.tsv", "a496afe5bb2b81ad79b0da7a935f81d5d0a6b4cefc89d865ba09fece38a30217", 37406),
    _f("propara/leaderboard/test/answers.tsv", "propara", _LEADERBOARD, "propara/data/test/answers.tsv", "cf1a71f38ccad7609e54b1dcf5cbc6e342ea3d2513490c0c09883d5bd80625d6", 51748),
    _f("propara/leaderboard/train/sentences.tsv", "propara", _LEADERBOARD, "propara/data/train/sentences.tsv", "e14ff5f915ced3c5cf068262050e8cd4b830e137129d452dd40b406fa6f03888", 135793),
    _f("propara/leaderboard/dev/sentences.tsv", "propara", _LEADERBOARD, "propara/data/dev/sentences.tsv", "088906d9f64ce15513350b6985d1e843282928ce1eb17737b205883d7a4cabb1", 14600),
    _f("propara/leaderboard/test/sentences.tsv", "propara", _LEADERBOARD, "propara/data/test/sentences.tsv", "87787ef5fa5d0c3825e428c55e2d3af246a0146a546e7883559f5a2c7f4377e3", 20650),
    # fmt: on
)
DATASETS = tuple(sorted({f.dataset for f in MANIFEST}))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _status(f: DataFile, root: Path) -> str:
    p = root / f.path
    if not p.is_file():
        return "missing"
    if p.stat().st_size != f.size or _sha256(p) != f.sha256:
        return "modified"
    return "ok"


def _selected(only: list[str] | None) -> list[DataFile]:
    if not only:
        return list(MANIFEST)
    unknown = sorted(set(only) - set(DATASETS))
    if unknown:
        raise DataError(f"Unknown dataset {unknown[0]!r}; choose from {', '.join(DATASETS)}.")
    return [f for f in MANIFEST if f.dataset in only]


def verify(root: Path | None = None, only: list[str] | None = None) -> dict[str, Any]:
    """Check every manifest file under the data dir: present, right size, right SHA-256."""
    root = root or data_dir()
    rows = [{"path": f.path, "dataset": f.dataset, "status": _status(f, root)} for f in _selected(only)]
    n_ok = sum(r["status"] == "ok" for r in rows)
    return {
        "ok": n_ok == len(rows),
        "data_dir": str(root),
        "files": rows,
        "summary": f"{n_ok}/{len(rows)} files verified in {root}",
    }


DATA_URL_ENV = "COCOGEN_DATA_URL"  # a mirror laid out like the data dir, used instead of GitHub
CHUNK = 1 << 16

Progress = Callable[[int, int, str], None]  # (bytes done, bytes in all, file being fetched)


def partial_path(dest: Path) -> Path:
    """Where an unfinished download of ``dest`` is kept, so the next try resumes it."""
    return dest.with_name(dest.name + ".part")


def _fetch(url: str, dest: Path, expected: DataFile, on_bytes: Callable[[int], None] | None = None) -> None:
    """Download ``url`` to ``dest``, resuming a ``.part`` file with an HTTP Range request.

    A broken connection keeps the partial file (the next call resumes it); a complete file
    with the wrong SHA-256 is deleted, since resuming it could never give the right one.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(dest)
    have = part.stat().st_size if part.is_file() else 0
    if have >= expected.size:  # complete but not verified (or too long): start again
        part.unlink()
        have = 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as resp:  # noqa: S310 (pinned https/mirror URL)
            resumed = have > 0 and resp.status == 206
            if not resumed:
                have = 0  # the server sent the whole file
            announced = resp.headers.get("Content-Length")
            received = 0
            with part.open("ab" if resumed else "wb") as out:
                if on_bytes and have:
                    on_bytes(have)
                while chunk := resp.read(CHUNK):
                    have += len(chunk)
                    received += len(chunk)
                    if have > expected.size:
                        break  # not the pinned file; the hash check below says so
                    out.write(chunk)
                    if on_bytes:
                        on_bytes(len(chunk))
            # http.client ends a read early without an error when the connection drops mid-body.
            if announced is not None and announced.isdigit() and received < int(announced) and have <= expected.size:
                raise http.client.IncompleteRead(b"", int(announced) - received)
    except urllib.error.HTTPError as e:
        raise DataError(f"Download failed with HTTP {e.code} for {url}.", path=expected.path) from None
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as e:
        reason = "the connection closed early" if isinstance(e, http.client.IncompleteRead) else None
        reason = reason or getattr(e, "reason", None) or type(e).__name__
        if part.is_file() and part.stat().st_size:
            got = part.stat().st_size
            raise DataError(
                f"The download from {url} broke off after {got:,} of {expected.size:,} bytes ({reason}); "
                "the part is kept and the next download resumes it.",
                path=expected.path,
            ) from None
        raise DataError(
            f"Cannot reach {url} ({reason}).", path=expected.path, hint="Check the network or pass --base-url a mirror."
        ) from None
    if part.stat().st_size != expected.size or _sha256(part) != expected.sha256:
        part.unlink(missing_ok=True)
        raise DataError(f"The file downloaded from {url} has an unexpected SHA-256; it was not kept.", path=expected.path)
    os.replace(part, dest)


def download(
    root: Path | None = None,
    *,
    base_url: str | None = None,
    force: bool = False,
    only: list[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fetch missing (or, with ``force``, all) manifest files into the data dir.

    A failed file is reported and the others still come; files already verified are kept.
    ``base_url`` (default: ``$COCOGEN_DATA_URL``, else GitHub) is a mirror laid out like the
    data dir.  ``progress(done, total, path)`` is called as bytes arrive.  An interrupted
    file is kept as ``<file>.part`` and resumed with an HTTP Range request next time.
    """
    root = root or data_dir()
    with _download_lock(root):
        return _download_locked(root, base_url or os.environ.get(DATA_URL_ENV) or None, force, only, progress)


LOCK_NAME = ".cocogen-download.lock"


@contextmanager
def _download_lock(root: Path) -> Iterator[None]:
    """One download into a data dir at a time (two browser tabs pressing Download would write one ``.part``)."""
    import portalocker

    try:
        root.mkdir(parents=True, exist_ok=True)
        fh = open(root / LOCK_NAME, "a")  # noqa: SIM115 - closed below
    except OSError as e:
        raise DataError(f"Cannot write into the data folder: {e.strerror}.", path=str(root)) from None
    try:
        try:
            portalocker.lock(fh, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
        except portalocker.exceptions.LockException:
            raise DataError(
                "Another download into this folder is under way; wait for it to finish.", path=str(root)
            ) from None
        yield
    finally:
        fh.close()


def _download_locked(
    root: Path, base_url: str | None, force: bool, only: list[str] | None, progress: Progress | None
) -> dict[str, Any]:
    rows = []
    todo = []
    for f in _selected(only):
        status = _status(f, root)
        if status == "ok" and not force:
            rows.append({"path": f.path, "dataset": f.dataset, "status": "present"})
        else:
            todo.append(f)
    total = sum(f.size for f in todo)
    done = 0
    for f in todo:
        current = f.path

        def count(n: int, current: str = current) -> None:
            nonlocal done
            done += n
            if progress:
                progress(min(done, total), total, current)

        before = done
        try:
            _fetch(f.url(base_url), root / f.path, f, count)
            rows.append({"path": f.path, "dataset": f.dataset, "status": "downloaded"})
        except DataError as e:
            rows.append({"path": f.path, "dataset": f.dataset, "status": "failed", "error": str(e)})
        done = before + f.size  # a failed file counts as passed, so the bar still ends at the end
        if progress:
            progress(min(done, total), total, f.path)
    n_failed = sum(r["status"] == "failed" for r in rows)
    return {
        "ok": n_failed == 0,
        "data_dir": str(root),
        "files": rows,
        "summary": f"{len(rows) - n_failed}/{len(rows)} files in place in {root}"
        + (f"; {n_failed} failed (see errors above)" if n_failed else ""),
    }


def missing(root: Path | None = None, only: list[str] | None = None) -> list[str]:
    """Manifest files absent or of the wrong size (a quick check, no hashing: see :func:`verify`)."""
    root = root or data_dir()
    out = []
    for f in _selected(only):
        p = root / f.path
        if not p.is_file() or p.stat().st_size != f.size:
            out.append(f.path)
    return out


def download_size(root: Path | None = None, only: list[str] | None = None) -> int:
    """Bytes still to fetch for the missing files."""
    root = root or data_dir()
    need = set(missing(root, only))
    return sum(f.size for f in _selected(only) if f.path in need)


def require(relpath: str, root: Path | None = None) -> Path:
    """Path of a data file, or a :class:`DataError` that says how to get it."""
    p = (root or data_dir()) / relpath
    if not p.is_file():
        raise DataError(
            "This dataset file is missing.",
            path=str(p),
            hint="Run `cocogen data download` (or set COCOGEN_DATA_DIR to a folder that has it).",
        )
    return p
