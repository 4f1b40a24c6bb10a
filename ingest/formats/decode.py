"""Bytes to text: byte-order marks, then UTF-8, then Windows-1252 unless the text is clearly another script."""

from __future__ import annotations

import codecs
import re

from ingest.formats import UnreadableFile

__all__ = ["decode_text"]

# Longest BOMs first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# A symbol wedged between letters ("Za¿ó³æ" is Polish read as cp1252): a sign of the wrong code page.
_SYMBOL_INSIDE_WORD = re.compile(r"[^\W\d_][^\w\s\x00-\x7f’‘'·\-][^\W\d_]")
# Western European text has accented letters here and there; most letters of a word read in the wrong
# code page ("Ïðèâåò" is Russian read as cp1252) are accented.
_MAX_ACCENTED_SHARE = 0.3


def decode_text(data: bytes) -> str:
    """Decode a text file; raises UnreadableFile for binary data or an unknown encoding."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise UnreadableFile(f"text does not match its {encoding.upper()} byte-order mark") from exc
    if b"\x00" in data[:8192]:
        raise UnreadableFile("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Detectors guess poorly between single-byte Latin code pages on short text (charset-normalizer read
    # Latin-1 "crème brûlée" as cp1250 "crčme brűlée"), so Windows-1252 (a superset of Latin-1's
    # printable range, and the usual legacy encoding of Western text) wins whenever it reads plausibly.
    western = _plausible_cp1252(data)
    if western is not None:
        return western
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise UnreadableFile("binary file or unknown text encoding")
    return str(best)


def _plausible_cp1252(data: bytes) -> str | None:
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:  # bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D)
        return None
    letters = [char for char in text if char.isalpha()]
    accented = sum(1 for char in letters if not char.isascii())
    if letters and accented / len(letters) > _MAX_ACCENTED_SHARE:
        return None
    if _SYMBOL_INSIDE_WORD.search(text):
        return None
    return text
