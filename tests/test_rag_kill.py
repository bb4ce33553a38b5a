"""An ingest killed midway (SIGKILL, no cleanup) leaves every document whole or absent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from base.settings import RagSettings
from rag.ingest import Status, ingest_paths
from rag.store import DOCUMENTS, KnowledgeStore

REPO = Path(__file__).resolve().parents[1]
N_DOCS = 14

CHILD = """
import sys
from pathlib import Path
from base.settings import RagSettings
from rag.ingest import ingest_file
from rag.store import KnowledgeStore
root = Path(sys.argv[1])
store = KnowledgeStore(RagSettings(path=root / "store"), root)
for path in sorted((root / "docs").glob("*.md")):
    result = ingest_file(store, path)
    print("done", path.name, result.status.value, flush=True)
"""


def write_docs(root: Path) -> None:
    docs = root / "docs"
    docs.mkdir()
    for i in range(N_DOCS):
        sections = "\n\n".join(f"## Section {j}\n\n" + f"Document {i} section {j} says the pump vibration was {i + j} mm/s. " * 6 for j in range(6))
        (docs / f"doc{i:02d}.md").write_text(f"# Document {i}\n\n{sections}\n", encoding="utf-8")


def run_and_kill(root: Path, after_done: int, extra_delay_s: float) -> int:
    """Start an ingest in a child process and SIGKILL it after `after_done` documents plus a delay."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    done = 0
    deadline = time.monotonic() + 60
    while done < after_done and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        done += line.startswith("done")
    time.sleep(extra_delay_s)  # land somewhere inside the next document's embed or add
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, "the child finished before it could be killed; make the batch bigger"
    return done


@pytest.mark.parametrize("after_done,delay", [(2, 0.0), (5, 0.15)])
def test_killed_ingest_leaves_the_store_consistent(tmp_path, after_done, delay):
    write_docs(tmp_path)
    done = run_and_kill(tmp_path, after_done, delay)
    assert done >= after_done

    store = KnowledgeStore(RagSettings(path=tmp_path / "store"), tmp_path)
    assert store.check() == []  # no document with missing chunks or two versions
    stored = store.documents()
    assert done <= len(stored) < N_DOCS
    for entry in stored.values():
        assert entry["stored"] == entry["n_chunks"]

    # a re-run finishes the job without duplicating what survived
    report = ingest_paths(store, [tmp_path / "docs"])
    assert report.count(Status.UNCHANGED) == len(stored)
    assert report.count(Status.ADDED) == N_DOCS - len(stored)
    assert store.check() == []
    assert store.collection(DOCUMENTS).count() == sum(e["n_chunks"] for e in store.documents().values())
    assert len(store.documents()) == N_DOCS
