"""Split documents by structure (Markdown headings, PDF pages, text paragraphs) into overlapping chunks."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(slots=True)
class Section:
    """A run of text under one heading path (or one PDF page)."""

    headings: list[str]
    text: str
    start: int  # character offset of the section body in the source text
    page: int | None = None


@dataclass(slots=True)
class Chunk:
    """A piece of a document small enough to embed, with where it came from."""

    text: str  # what is embedded and returned: heading path line + body
    heading: str  # "Title > Section > Subsection"
    start: int
    end: int
    page: int | None = None


def markdown_sections(text: str) -> list[Section]:
    """Sections of a Markdown text, each with its full heading path; code fences are not headings."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    body_start = 0
    offset = 0
    in_fence = False

    def flush() -> None:
        joined = "".join(body)
        if joined.strip():
            sections.append(Section([h for _, h in path], joined, body_start))

    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, match.group(2).strip())]
            body, body_start = [], offset + len(line)
        else:
            body.append(line)
        offset += len(line)
    flush()
    return sections


def text_sections(text: str) -> list[Section]:
    """A plain text is one section without headings."""
    return [Section([], text, 0)] if text.strip() else []


def split_section(section: Section, title: str, max_chars: int, overlap: int) -> list[Chunk]:
    """Cut a section at paragraph, then sentence, boundaries into chunks of at most `max_chars`, overlapping."""
    heading = " > ".join(h for h in [title, *section.headings] if h)
    pieces = _pieces(section.text, max_chars)
    chunks: list[Chunk] = []
    current: list[tuple[int, str]] = []  # (offset in section, piece)

    def emit() -> None:
        body = "".join(p for _, p in current).strip()
        if body:
            start = section.start + current[0][0]
            end = section.start + current[-1][0] + len(current[-1][1])
            chunks.append(Chunk(f"{heading}\n\n{body}" if heading else body, heading, start, end, section.page))

    for pos, piece in pieces:
        size = sum(len(p) for _, p in current)
        if current and size + len(piece) > max_chars:
            emit()
            # Carry the tail pieces that fit in `overlap` so a fact cut at a boundary is whole in one chunk.
            carried: list[tuple[int, str]] = []
            for item in reversed(current):
                if sum(len(p) for _, p in carried) + len(item[1]) > overlap:
                    break
                carried.insert(0, item)
            current = carried
        current.append((pos, piece))
    emit()
    return chunks


def _pieces(text: str, max_chars: int) -> list[tuple[int, str]]:
    # Paragraphs first; a paragraph longer than max_chars is cut at sentence ends, then hard.
    out: list[tuple[int, str]] = []
    for match in re.finditer(r".+?(?:\n\s*\n|\Z)", text, flags=re.S):
        para, pos = match.group(0), match.start()
        if len(para) <= max_chars:
            out.append((pos, para))
            continue
        for sent in re.finditer(r".+?(?:[.!?;](?:\s+|\Z)|\n|\Z)", para, flags=re.S):
            s, spos = sent.group(0), pos + sent.start()
            for k in range(0, len(s), max_chars):
                if s[k : k + max_chars]:
                    out.append((spos + k, s[k : k + max_chars]))
    return out


def chunk_markdown(text: str, title: str, max_chars: int = 800, overlap: int = 120) -> list[Chunk]:
    """Chunks of a Markdown document; the first `# Title` heading is the title when present."""
    chunks: list[Chunk] = []
    for section in markdown_sections(text):
        chunks.extend(split_section(section, "" if section.headings else title, max_chars, overlap))
    return chunks


def chunk_text(text: str, title: str, max_chars: int = 800, overlap: int = 120) -> list[Chunk]:
    """Chunks of a plain-text document."""
    return [c for s in text_sections(text) for c in split_section(s, title, max_chars, overlap)]


def chunk_pages(pages: list[str], title: str, max_chars: int = 800, overlap: int = 120) -> list[Chunk]:
    """Chunks of a paged document (PDF), each remembering its page number (1-based)."""
    chunks: list[Chunk] = []
    offset = 0
    for number, page in enumerate(pages, start=1):
        if page.strip():
            section = Section([f"page {number}"], page, offset, page=number)
            chunks.extend(split_section(section, title, max_chars, overlap))
        offset += len(page) + 1
    return chunks
