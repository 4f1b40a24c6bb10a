"""Find and read source files into plain text, reporting (never raising on) files that cannot be read."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from corpusqa.errors import SourceNotFoundError
from corpusqa.types import Skipped
from ingest.formats import Section, UnreadableFile
from ingest.formats.decode import decode_text
from ingest.formats.image import IMAGE_SUFFIXES
from ingest.formats.ocr import OcrOptions, PageReport

__all__ = [
    "SUPPORTED_SUFFIXES", "LoadedFile", "OcrOptions", "PageReport", "Scope", "SourceFile", "UnreadableFile", "discover",
    "file_hash", "read_file", "structure",
]

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", *IMAGE_SUFFIXES)


@dataclass(frozen=True)
class SourceFile:
    """A file found under an ingest root; `source` is its path relative to that root."""

    path: Path
    root: Path
    source: str


@dataclass(frozen=True)
class LoadedFile:
    """A file's text and its sections (paragraphs as offsets into `text`), ready to chunk."""

    source: str
    text: str
    format: str  # "text" | "markdown" | "html" | "pdf" | "docx" | "image"
    title: str  # a document-level title (HTML <title>, PDF or DOCX metadata), "" when none
    # empty: the chunker finds them in `text` (Markdown or plain text)
    sections: tuple[Section, ...] = ()
    layout: str = ""  # plain text only: "news" (articles with reader comments) or "plain"
    pages: PageReport = field(default_factory=PageReport)  # PDF and images: pages read by OCR, and pages that needed it but were not read


@dataclass(frozen=True)
class Scope:
    """A walked folder: files under `root` whose source starts with `prefix` were all seen this run."""

    root: Path
    prefix: str


def discover(paths: list[Path], base: Path | None = None) -> tuple[list[SourceFile], list[Scope], list[Skipped]]:
    """Expand files and folders into source files; returns (files, walked scopes, skipped).

    Paths inside `base` (the corpus folder) are named relative to it, so that ingesting a subfolder
    and later the whole corpus name a file the same way. A missing path raises SourceNotFoundError:
    the user named it, so it is theirs to fix.
    """
    files: list[SourceFile] = []
    scopes: list[Scope] = []
    skipped: list[Skipped] = []
    base_resolved = base.resolve() if base is not None and base.is_dir() else None
    for given in paths:
        if not given.exists():
            raise SourceNotFoundError(f"No such file or folder: {given}; check the path and try again.")
        resolved = given.resolve()
        inside = base_resolved is not None and resolved.is_relative_to(base_resolved)
        if given.is_dir():
            root = base_resolved if inside and base_resolved is not None else resolved
            prefix = "" if resolved == root else resolved.relative_to(root).as_posix() + "/"
            scopes.append(Scope(root, prefix))
            found, bad = _walk(resolved, root)
            files.extend(found)
            skipped.extend(bad)
        elif given.suffix.lower() in SUPPORTED_SUFFIXES:
            root = base_resolved if inside and base_resolved is not None else resolved.parent
            files.append(SourceFile(resolved, root, resolved.relative_to(root).as_posix()))
        else:
            skipped.append(Skipped(str(given), f"unsupported file type {given.suffix or '(none)'}"))
    return files, scopes, skipped


def _walk(folder: Path, root: Path) -> tuple[list[SourceFile], list[Skipped]]:
    # os.walk without followlinks cannot loop on a symlinked folder; symlinked files are read once.
    files: list[SourceFile] = []
    skipped: list[Skipped] = []
    for current, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(current) / name
            source = path.relative_to(root).as_posix()
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                skipped.append(Skipped(source, f"unsupported file type {path.suffix or '(none)'}"))
                continue
            files.append(SourceFile(path, root, source))
    return files, skipped


def file_hash(data: bytes) -> str:
    """Content hash that decides whether a file changed."""
    return hashlib.sha256(data).hexdigest()


def read_file(
    data: bytes, path: Path, source: str, max_bytes: int, text_layout: str = "auto", ocr: OcrOptions | None = None
) -> LoadedFile:
    """Turn a file's bytes into text and sections; raises UnreadableFile with a human reason.

    Pages without text (scans, image files) are read by OCR only when `ocr` is given: views of a document
    and upload checks never run it, and get those pages listed in `pages.unread`.
    """
    if len(data) > max_bytes:
        raise UnreadableFile(f"file is larger than {max_bytes // (1024 * 1024)} MB (CORPUSQA_MAX_FILE_MB)")
    if not data.strip():
        raise UnreadableFile("empty file")
    suffix = Path(source).suffix.lower()
    if suffix == ".pdf":
        from ingest.formats.pdf import pdf_sections

        text, sections, title, pages = pdf_sections(path, ocr)
        return LoadedFile(source, text, "pdf", title, tuple(sections), pages=pages)
    if suffix in IMAGE_SUFFIXES:
        from ingest.formats.image import image_sections

        text, sections, title, pages = image_sections(path, ocr)
        return LoadedFile(source, text, "image", title, tuple(sections), pages=pages)
    if suffix == ".docx":
        from ingest.formats.docx import docx_sections

        text, sections, title = docx_sections(path)
        return LoadedFile(source, text, "docx", title, tuple(sections))
    text = decode_text(data)
    if suffix in (".html", ".htm"):
        from ingest.formats.html import html_sections

        text, sections, title = html_sections(text)
        return LoadedFile(source, text, "html", title, tuple(sections))
    fmt = "markdown" if suffix in (".md", ".markdown") else "text"
    found, layout = structure(text, fmt, text_layout)
    return LoadedFile(source, text, fmt, "", tuple(found), layout)


def structure(text: str, fmt: str, text_layout: str = "auto") -> tuple[list[Section], str]:
    """(sections, layout) of Markdown or plain text; layout is "news" or "plain" for text, "" otherwise."""
    if fmt == "markdown":
        from ingest.formats.markdown import markdown_sections

        return markdown_sections(text), ""
    from ingest.formats.text import text_sections

    return text_sections(text, text_layout)
