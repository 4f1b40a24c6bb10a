"""Find and read source files into plain text, reporting (never raising on) files that cannot be read."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from corpusqa.errors import SourceNotFoundError
from corpusqa.types import Skipped

__all__ = ["SUPPORTED_SUFFIXES", "LoadedFile", "Scope", "SourceFile", "UnreadableFile", "discover", "file_hash", "read_file"]

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")


@dataclass(frozen=True)
class SourceFile:
    """A file found under an ingest root; `source` is its path relative to that root."""

    path: Path
    root: Path
    source: str


@dataclass(frozen=True)
class LoadedFile:
    """A file's text, ready to chunk."""

    source: str
    text: str
    format: str  # "text" | "markdown" | "html" | "pdf"
    title: str  # a document-level title (HTML <title>, PDF metadata), "" when none


class UnreadableFile(Exception):
    """Raised by the readers below; the message becomes the `skipped` reason."""


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
            if path.is_symlink() and not path.exists():
                skipped.append(Skipped(source, "broken symbolic link"))
                continue
            files.append(SourceFile(path, root, source))
    return files, skipped


def file_hash(data: bytes) -> str:
    """Content hash that decides whether a file changed."""
    return hashlib.sha256(data).hexdigest()


def read_file(data: bytes, path: Path, source: str, max_bytes: int) -> LoadedFile:
    """Turn a file's bytes into text; raises UnreadableFile with a human reason."""
    if len(data) > max_bytes:
        raise UnreadableFile(f"file is larger than {max_bytes // (1024 * 1024)} MB (CORPUSQA_MAX_FILE_MB)")
    if not data.strip():
        raise UnreadableFile("empty file")
    suffix = Path(source).suffix.lower()
    if suffix == ".pdf":
        return _read_pdf(path, source)
    text = _decode(data)
    if suffix in (".html", ".htm"):
        return _read_html(text, source)
    return LoadedFile(source, text, "markdown" if suffix in (".md", ".markdown") else "text", "")


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise UnreadableFile("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Not UTF-8: let charset-normalizer detect it (Latin-1, cp1252, ...) rather than garble it.
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise UnreadableFile("binary file or unknown text encoding")
    # On short Western text several single-byte code pages tie and charset-normalizer picks one
    # arbitrarily (cp1252 "naïve" came back as cp1250 "naďve"); among equally plausible decodings,
    # prefer Windows-1252, the usual legacy encoding of English and Western European text.
    for match in matches:
        if match.chaos == best.chaos and match.coherence == best.coherence and "cp1252" in match.could_be_from_charset:
            try:
                return data.decode("cp1252")
            except UnicodeDecodeError:
                break
    return str(best)


def _read_html(html: str, source: str) -> LoadedFile:
    # llama-index's HTMLTagReader keeps only one tag type and drops the <title>; we need the whole
    # visible text (with line breaks between blocks, for line numbers) and the title for citations.
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "noscript", "template", "nav", "footer", "head"]):
        tag.decompose()
    # <h1>..<h6> become markdown headings on their own line, so the segmenter titles the sections below them.
    for heading in soup(["h1", "h2", "h3", "h4", "h5", "h6"]):
        words = " ".join(heading.get_text(" ", strip=True).split())
        heading.replace_with(f"\n{'#' * int(heading.name[1])} {words}\n" if words else "")
    body = soup.body or soup
    lines = [line.strip() for line in body.get_text("\n").splitlines()]
    text = _squeeze_blank_lines(lines)
    if not text.strip():
        raise UnreadableFile("HTML page has no visible text")
    return LoadedFile(source, text, "html", title)


def _read_pdf(path: Path, source: str) -> LoadedFile:
    # pypdf directly rather than llama-index's PDFReader (a thin wrapper over it): PDFReader drops the
    # document's /Title and reports every parse error as tenacity's RetryError after three attempts.
    import logging

    import pypdf

    # pypdf logs its repairs ("EOF marker not found") on stderr; the skip reason below says it once.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata = reader.metadata
        title = " ".join(str(metadata.title or "").split()) if metadata else ""
    except Exception as exc:  # pypdf raises many unrelated types on a broken file; all mean "unreadable"
        raise UnreadableFile(f"PDF could not be parsed ({exc.__class__.__name__}: {str(exc)[:80]})") from exc
    text = "\n\n".join(page.strip() for page in pages)
    if not text.strip():
        raise UnreadableFile("PDF has no extractable text (scanned image?)")
    return LoadedFile(source, text, "pdf", title)


def _squeeze_blank_lines(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"
