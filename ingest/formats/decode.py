"""Bytes to text: byte-order marks, then UTF-8 (a few bad bytes replaced), then Windows-1252 or a detector."""

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
# A well-formed UTF-8 sequence of two to four bytes (RFC 3629, table 3-7 of the Unicode standard).
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
# Western European text has accented letters here and there; most letters of a word read in the wrong
# code page ("Ïðèâåò" is Russian read as cp1252) are accented.
_MAX_ACCENTED_SHARE = 0.3


def decode_text(data: bytes) -> str:
    """Decode a text file; raises UnreadableFile for binary data or an unknown encoding."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise UnreadableFile(f"text does not match its {encoding.upper()} byte-order mark") from exc
            if "\x00" in text[:8192]:  # text never holds U+0000: binary data that happens to open with a mark
                raise UnreadableFile(f"binary file (NUL characters after its {encoding.upper()} byte-order mark)")
            return text
    if b"\x00" in data[:8192]:
        raise UnreadableFile("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    mostly = _mostly_utf8(data)
    if mostly is not None:
        return mostly
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


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few broken bytes (a stray Latin-1 byte, a last character cut off), bad bytes as U+FFFD.

    Read as a single-byte code page such a file came out garbled whole ("Crﾃｨme"), or was dropped as
    unreadable. Legacy single-byte text almost never holds a well-formed multi-byte sequence, so the rule
    is: more well-formed UTF-8 characters than bytes that are not UTF-8.
    """
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.count("\ufffd".encode())
    good = len(_UTF8_MULTIBYTE.findall(data))
    return text if good > bad else None


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
