"""Read a file into text (or PDF pages) with the checks that keep junk out of the store."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text", ".rst": "text", ".pdf": "pdf", ".jsonl": "examples"}


class FailReason(enum.Enum):
    """Why a file was not ingested."""

    NOT_FOUND = "not found"
    UNREADABLE = "unreadable"
    TOO_LARGE = "too large"
    BINARY = "binary content"
    ENCODING = "unknown text encoding"
    EMPTY = "empty"
    UNSUPPORTED = "unsupported file type"
    BAD_PDF = "unreadable PDF"
    BAD_RECORD = "bad record"
    TOO_MANY_CHUNKS = "too many chunks"


class ReadFailed(Exception):
    """A file that cannot be ingested; `reason` says why, the message how to fix it."""

    def __init__(self, reason: FailReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class ReadDocument:
    """A file's content: text for markdown/text/examples, pages for PDF."""

    path: Path
    format: str
    text: str = ""
    pages: list[str] = field(default_factory=list)
    raw: bytes = b""
    note: str = ""  # e.g. "decoded as cp1252"
    mtime: float = 0.0


def read_document(path: Path, max_bytes: int) -> ReadDocument:
    """Read `path` into a ReadDocument or raise ReadFailed with a reason."""
    fmt = TEXT_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ReadFailed(FailReason.UNSUPPORTED, f"{path.suffix or 'no suffix'} is not ingested; use .md, .txt, .pdf or .jsonl (examples)")
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ReadFailed(FailReason.NOT_FOUND, "no such file (a dangling link?)") from None
    except OSError as err:
        raise ReadFailed(FailReason.UNREADABLE, err.strerror or str(err)) from err
    if stat.st_size > max_bytes:
        raise ReadFailed(FailReason.TOO_LARGE, f"{stat.st_size / 1e6:.3g} MB is over the {max_bytes / 1e6:g} MB limit (rag.max_file_mb); split the file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ReadFailed(FailReason.UNREADABLE, err.strerror or str(err)) from err
    doc = ReadDocument(path=path, format=fmt, raw=raw, mtime=stat.st_mtime)
    if fmt == "pdf":
        doc.pages = _pdf_pages(raw)
        if not any(p.strip() for p in doc.pages):
            raise ReadFailed(FailReason.EMPTY, "the PDF has no extractable text (a scan? run OCR first)")
        return doc
    doc.text, doc.note = decode_text(raw)
    if not doc.text.strip():
        raise ReadFailed(FailReason.EMPTY, "the file holds no text")
    return doc


def decode_text(raw: bytes) -> tuple[str, str]:
    """Decode bytes as UTF-8 (BOMs honoured), else as Windows-1252 when that yields clean text."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "decoded as UTF-16"
        except UnicodeDecodeError as err:
            raise ReadFailed(FailReason.ENCODING, f"UTF-16 mark but invalid data at byte {err.start}") from err
    if b"\x00" in raw[:8192] or _control_ratio(raw[:8192]) > 0.05:
        raise ReadFailed(FailReason.BINARY, "the file looks binary (NUL or control bytes), not text")
    try:
        return raw.decode("utf-8-sig"), ""
    except UnicodeDecodeError as err:
        utf8_error = err
    # Windows-1252 is what legacy manuals on site PCs are written in; anything else we refuse
    # rather than store mojibake.
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        raise ReadFailed(FailReason.ENCODING, f"not UTF-8 (invalid byte at {utf8_error.start}) nor Windows-1252; convert it to UTF-8") from utf8_error
    log.info("not UTF-8; decoded as Windows-1252")
    return text, "decoded as Windows-1252"


def _control_ratio(data: bytes) -> float:
    if not data:
        return 0.0
    control = sum(1 for b in data if b < 32 and b not in (9, 10, 12, 13))
    return control / len(data)


def _pdf_pages(raw: bytes) -> list[str]:
    try:
        import io

        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError as err:
        raise ReadFailed(FailReason.UNSUPPORTED, "PDF support needs pypdf: pip install pypdf") from err
    try:
        reader = PdfReader(io.BytesIO(raw))
        return [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as err:
        raise ReadFailed(FailReason.BAD_PDF, f"pypdf cannot read it ({str(err)[:120]})") from err


class Status(enum.Enum):
    """What happened to one file."""

    ADDED = "added"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(slots=True)
class FileResult:
    """The outcome for one file; `reason` is set when it failed."""

    path: str
    status: Status
    chunks: int = 0
    reason: FailReason | None = None
    message: str = ""

    def line(self) -> str:
        """One line for the terminal."""
        if self.status is Status.FAILED:
            return f"{self.path}: skipped, {self.reason.value if self.reason else 'error'}: {self.message}"
        note = f" ({self.message})" if self.message else ""
        return f"{self.path}: {self.status.value}, {self.chunks} chunks{note}"
