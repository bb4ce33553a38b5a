"""Ingest on a real chromadb store on disk: idempotence, replacement, bad input, corrupt stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.chunking import chunk_markdown
from base.settings import RagSettings
from rag.errors import StoreCorruptError
from rag.ingest import Status, ingest_paths
from rag.readers import FailReason
from rag.store import DOCUMENTS, KnowledgeStore

MANUAL = """# Pump P-3 manual

Intro text before the first section.

## Bearings

The drive end uses an SKF 6205 bearing. BPFO is 3.585 times shaft speed.

## Seals

Flush the mechanical seal before start-up. Never run the pump dry.

### Seal replacement

Replace the seal faces as a pair.
"""


def make_store(root: Path, **overrides) -> KnowledgeStore:
    return KnowledgeStore(RagSettings(path=root / "store", **overrides), root)


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with `text` in Helvetica, built by hand (offsets computed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_markdown_chunks_keep_heading_path_and_position():
    chunks = chunk_markdown(MANUAL, "p3", max_chars=800, overlap=100)
    headings = [c.heading for c in chunks]
    assert headings == ["Pump P-3 manual", "Pump P-3 manual > Bearings", "Pump P-3 manual > Seals", "Pump P-3 manual > Seals > Seal replacement"]
    for c in chunks:
        body = c.text.split("\n\n", 1)[1] if "\n\n" in c.text else c.text
        assert MANUAL[c.start : c.end].strip() == body.strip()
    assert chunks[-1].text.startswith("Pump P-3 manual > Seals > Seal replacement\n\nReplace the seal faces")


def test_long_sections_are_split_with_overlap():
    para = " ".join(f"Sentence {i} says the vibration rose to {i} mm/s." for i in range(200))
    chunks = chunk_markdown(f"# Log\n\n{para}\n", "log", max_chars=400, overlap=80)
    assert len(chunks) > 10
    assert all(len(c.text) <= 400 + len("Log\n\n") for c in chunks)
    # consecutive chunks share text (the overlap) and together cover every sentence
    assert all(a.end > b.start for a, b in zip(chunks, chunks[1:]))
    joined = " ".join(c.text for c in chunks)
    assert all(f"Sentence {i} says" in joined for i in range(200))


def test_ingest_is_idempotent_and_replaces_changed_files(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "p3.md").write_text(MANUAL, encoding="utf-8")
    (docs / "notes.txt").write_text("Pump 3 was realigned in March.\n\nVibration fell to 1.2 mm/s.", encoding="utf-8")
    store = make_store(tmp_path)
    first = ingest_paths(store, [docs])
    assert [r.status for r in first.results] == [Status.ADDED, Status.ADDED]
    count = store.collection(DOCUMENTS).count()
    second = ingest_paths(store, [docs, docs / "p3.md"])
    assert all(r.status is Status.UNCHANGED for r in second.results)
    assert store.collection(DOCUMENTS).count() == count

    (docs / "p3.md").write_text(MANUAL.replace("SKF 6205", "SKF 6305"), encoding="utf-8")
    third = ingest_paths(store, [docs])
    assert {Path(r.path).name: r.status for r in third.results} == {"notes.txt": Status.UNCHANGED, "p3.md": Status.REPLACED}
    assert store.collection(DOCUMENTS).count() == count
    texts = store.collection(DOCUMENTS).get(include=["documents"])["documents"]
    assert any("SKF 6305" in t for t in texts) and not any("SKF 6205" in t for t in texts)
    assert store.check() == []
    hit = store.search("which bearing is at the drive end", k=1)[0]
    assert hit.metadata["heading"].endswith("Bearings") and hit.citation.endswith("p3.md#Pump P-3 manual > Bearings")


def test_bad_input_is_reported_and_the_rest_of_the_batch_ingested(tmp_path):
    docs = tmp_path / "batch"
    docs.mkdir()
    (docs / "good.md").write_text(MANUAL, encoding="utf-8")
    (docs / "junk.md").write_bytes(os.urandom(4096) + b"\x00")
    (docs / "empty.txt").write_text("   \n\n  ", encoding="utf-8")
    (docs / "latin.txt").write_bytes("Température de consigne 19 °C pour la chambre.".encode("cp1252"))
    (docs / "broken.txt").write_bytes(b"caf\xe9 then \x81\x8d, bytes undefined in cp1252")
    (docs / "huge.txt").write_text("x" * 30_000, encoding="utf-8")
    (docs / "dangling.md").symlink_to(docs / "does-not-exist.md")
    (docs / "bad.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (docs / "good.pdf").write_bytes(minimal_pdf("Loop detectors report occupancy every 20 seconds"))
    (docs / "image.png").write_bytes(b"\x89PNG\r\n")
    unreadable = docs / "secret.md"
    unreadable.write_text("# Secret\n\ntext", encoding="utf-8")
    unreadable.chmod(0)
    store = make_store(tmp_path, max_file_mb=0.02)
    try:
        report = ingest_paths(store, [docs, docs / "image.png"])
    finally:
        unreadable.chmod(0o600)
    by_name = {Path(r.path).name: r for r in report.results}
    assert by_name["good.md"].status is Status.ADDED
    assert by_name["good.pdf"].status is Status.ADDED
    assert by_name["latin.txt"].status is Status.ADDED and "1252" in by_name["latin.txt"].message
    expected = {
        "junk.md": FailReason.BINARY,
        "empty.txt": FailReason.EMPTY,
        "broken.txt": FailReason.ENCODING,
        "huge.txt": FailReason.TOO_LARGE,
        "dangling.md": FailReason.NOT_FOUND,
        "bad.pdf": FailReason.BAD_PDF,
        "image.png": FailReason.UNSUPPORTED,
    }
    for name, reason in expected.items():
        assert by_name[name].status is Status.FAILED and by_name[name].reason is reason, by_name[name]
        assert by_name[name].message and "\n" not in by_name[name].line()
    if os.geteuid() != 0:  # root reads a mode-000 file anyway
        assert by_name["secret.md"].reason is FailReason.UNREADABLE
    # what was accepted is searchable, with its source
    assert "Température" in store.search("consigne chambre", k=1)[0].text
    pdf_hit = store.search("how often do loop detectors report occupancy", k=1)[0]
    assert pdf_hit.metadata["source"].endswith("good.pdf") and pdf_hit.metadata["page"] == 1
    assert store.check() == []


def test_too_many_chunks_is_refused_whole(tmp_path):
    doc = tmp_path / "long.md"
    doc.write_text("# Long\n\n" + "\n\n".join(f"Paragraph {i} " + "word " * 150 for i in range(30)), encoding="utf-8")
    store = make_store(tmp_path, max_chunks_per_document=5)
    (result,) = ingest_paths(store, [doc]).results
    assert result.reason is FailReason.TOO_MANY_CHUNKS
    assert store.collection(DOCUMENTS).count() == 0


def test_corrupt_store_gives_a_clear_error(tmp_path):
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    (store_dir / "chroma.sqlite3").write_bytes(os.urandom(8192))
    with pytest.raises(StoreCorruptError, match="corrupt.*re-ingest"):
        make_store(tmp_path)


def test_damaged_sqlite_pages_give_a_clear_error(tmp_path):
    docs = tmp_path / "d.md"
    docs.write_text(MANUAL, encoding="utf-8")
    ingest_paths(make_store(tmp_path), [docs])
    db = tmp_path / "store" / "chroma.sqlite3"
    data = db.read_bytes()
    # keep the SQLite header page, destroy the rest: the schema and data pages
    db.write_bytes(data[:100] + os.urandom(len(data) - 100))
    with pytest.raises(StoreCorruptError, match="cannot be opened"):
        make_store(tmp_path)


def test_store_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "store").write_text("not a directory")
    with pytest.raises(StoreCorruptError, match="not a directory"):
        make_store(tmp_path)
