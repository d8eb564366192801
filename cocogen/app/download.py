"""The app's dataset download, without Streamlit: what to say while it runs and when it fails.

The download itself is :func:`cocogen.data.download` (progress, resume, SHA-256 check); the
button and the progress bar are :func:`cocogen.app.components.data_download_offer`.

Examples
--------
>>> progress_text(1_500_000, 15_000_000, "explagraphs/train.tsv")
'explagraphs/train.tsv · 1.5 of 15.0 MB'
>>> failure_sentence({"files": [{"status": "failed", "error": "x: Cannot reach https://h/x (timed out)."},
...                             {"status": "present"}]})
'Cannot reach the download server (h): check the network and press Download again; nothing downloaded so far is lost.'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["progress_text", "failure_sentence", "offer_text"]


def progress_text(done: int, total: int, path: str) -> str:
    """The progress bar's caption: the file being fetched and the megabytes so far."""
    return f"{path} · {done / 1e6:.1f} of {total / 1e6:.1f} MB"


def failure_sentence(report: Mapping[str, Any]) -> str:
    """One sentence for a download that did not bring every file."""
    errors = [str(r.get("error", "")) for r in report.get("files", []) if r.get("status") == "failed"]
    if not errors:
        return ""
    if all("Cannot reach" in e for e in errors):
        url = errors[0].split("Cannot reach ", 1)[1].split(" ", 1)[0]
        host = urlsplit(url).hostname or url
        return (
            f"Cannot reach the download server ({host}): check the network and press Download again; "
            "nothing downloaded so far is lost."
        )
    more = f" ({len(errors) - 1} more files failed too; press Download again to retry them.)" if len(errors) > 1 else ""
    return errors[0] + more


def offer_text(n_missing: int, n_files: int, size: int, where: str) -> str:
    """What the box above the Download button says."""
    return (
        f"{n_missing} of the {n_files} dataset files are not in `{where}` ({size / 1e6:.1f} MB to download "
        "from their public repositories, each checked against its pinned SHA-256)."
    )
