"""Finding and reading source files: folders, encodings, HTML, PDF, and the files we refuse (with a reason)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from corpusqa.errors import SourceNotFoundError
from ingest.chunker import chunk_file
from ingest.loader import LoadedFile, UnreadableFile, discover, file_hash, read_file

MB = 1024 * 1024


def _read(tmp_path: Path, name: str, data: bytes, max_bytes: int = 64 * MB) -> LoadedFile:
    path = tmp_path / name
    path.write_bytes(data)
    return read_file(data, path, name, max_bytes)


def test_discover_lists_supported_files_relative_to_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for name in ["a.txt", "b.MD", "sub/c.html", "sub/deeper/d.pdf", "sub/e.htm", "f.markdown", ".secret.txt", ".hidden/g.txt"]:
        (root / name).write_text("x", encoding="utf-8")
    (root / "image.gif").write_bytes(b"GIF89a")  # .png, .jpg and .tiff are read by OCR; .gif is not
    (root / "README").write_text("x", encoding="utf-8")

    files, scopes, skipped = discover([root])

    assert [f.source for f in files] == ["a.txt", "b.MD", "f.markdown", "sub/c.html", "sub/e.htm", "sub/deeper/d.pdf"]
    assert [(scope.root, scope.prefix) for scope in scopes] == [(root.resolve(), "")]
    assert all(f.root == root.resolve() and f.path == root.resolve() / f.source for f in files)
    assert {(s.path, s.reason) for s in skipped} == {
        ("image.gif", "unsupported file type .gif"),
        ("README", "unsupported file type (none)"),
    }


def test_discover_single_file_is_relative_to_its_folder_and_adds_no_scope(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# Notes\n", encoding="utf-8")

    files, scopes, skipped = discover([path])

    assert [(f.source, f.root) for f in files] == [("notes.md", tmp_path.resolve())]
    assert scopes == [] and skipped == []  # no folder was walked, so nothing can be found deleted


def test_discover_lists_a_broken_symlink_for_the_planner(tmp_path: Path) -> None:
    # the planner reads it and reports it unreadable, so --keep-unreadable can keep its indexed version
    (tmp_path / "gone.txt").symlink_to(tmp_path / "nowhere.txt")

    files, _, skipped = discover([tmp_path])

    assert [f.source for f in files] == ["gone.txt"] and skipped == []


def test_discover_missing_path_raises_one_sentence(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"

    with pytest.raises(SourceNotFoundError) as info:
        discover([missing])

    message = str(info.value)
    assert str(missing) in message and "\n" not in message and message.endswith(".")


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("utf8.txt", "Zoë’s café serves “naïve” crème brûlée.\n".encode(), "Zoë’s café serves “naïve” crème brûlée.\n"),
        ("bom.txt", b"\xef\xbb\xbfPlain text after a byte order mark.\n", "Plain text after a byte order mark.\n"),
        # cp1252's curly quotes (0x93/0x94), apostrophe (0x92) and dash (0x97) have no Latin-1 meaning
        (
            "cp1252.txt",
            "The café served a naïve “crème brûlée” — it’s good.\n".encode("cp1252"),
            "The café served a naïve “crème brûlée” — it’s good.\n",
        ),
        ("cp1252-short.txt", "café\n".encode("cp1252"), "café\n"),
        (
            "latin1.txt",
            "Meet me at the café. She was naïve about it.\n".encode("latin-1"),
            "Meet me at the café. She was naïve about it.\n",
        ),
        (
            "cp1251.txt",
            "Привет, как дела? Это тест кодировки.\n".encode("cp1251"),
            "Привет, как дела? Это тест кодировки.\n",
        ),
        ("notes.md", "# Café notes\n\nBody text.\n".encode("cp1252"), "# Café notes\n\nBody text.\n"),
        # issue #13: charset-normalizer alone read these as cp1250 ("crčme brűlée")
        ("dessert.txt", "crème brûlée\n".encode("latin-1"), "crème brûlée\n"),
        ("menu.txt", "Une crème brûlée et un café au lait, s'il vous plaît.\n".encode("latin-1"),
         "Une crème brûlée et un café au lait, s'il vous plaît.\n"),
        ("gruss.txt", "Grüße aus München – die Straße ist schön. „Zitat“ kostet 5 €.\n".encode("cp1252"),
         "Grüße aus München – die Straße ist schön. „Zitat“ kostet 5 €.\n"),
        ("nino.txt", "El niño comió piña y jalapeño por la mañana.\n".encode("latin-1"),
         "El niño comió piña y jalapeño por la mañana.\n"),
        ("smorgas.txt", "Smörgåsbord och kaffe på morgonen. Ærø og Åland.\n".encode("latin-1"),
         "Smörgåsbord och kaffe på morgonen. Ærø og Åland.\n"),
        # other scripts still go to the detector
        ("greek.txt", "Καλημέρα, τι κάνεις; Αυτό είναι ένα τεστ.\n".encode("cp1253"), "Καλημέρα, τι κάνεις; Αυτό είναι ένα τεστ.\n"),
        ("tokyo.txt", "東京は大きい都市です。日本語のテキストです。\n".encode("shift_jis"),
         "東京は大きい都市です。日本語のテキストです。\n"),
        ("czech.txt", "Příliš žluťoučký kůň úpěl ďábelské ódy.\n".encode("cp1250"), "Příliš žluťoučký kůň úpěl ďábelské ódy.\n"),
        # byte-order marks decide: UTF-16 (NUL bytes) is text, not binary
        ("utf16le.txt", "\ufeffCrème brûlée für Zoë.\n".encode("utf-16-le"), "Crème brûlée für Zoë.\n"),
        ("utf16be.md", "\ufeff# Café\n\nNaïve text.\n".encode("utf-16-be"), "# Café\n\nNaïve text.\n"),
        ("utf16.txt", "Привет из UTF-16.\n".encode("utf-16"), "Привет из UTF-16.\n"),
        ("utf32.txt", "Smörgåsbord in UTF-32.\n".encode("utf-32"), "Smörgåsbord in UTF-32.\n"),
        # UTF-8 with a few broken bytes (a stray Latin-1 byte, a last character cut off while the file was
        # being written) stays UTF-8: one bad byte must not garble (or drop) the whole document
        ("stray.txt", "Crème brûlée at the café. ".encode() + b"Caf\xe9 au lait.\n",
         "Crème brûlée at the café. Caf\ufffd au lait.\n"),
        ("cut.md", "# Über\n\nDie Brücke ist schön. Naïve façade é".encode()[:-1],
         "# Über\n\nDie Brücke ist schön. Naïve façade \ufffd"),
    ],
)
def test_read_file_decodes_text_encodings(tmp_path: Path, name: str, data: bytes, expected: str) -> None:
    loaded = _read(tmp_path, name, data)

    assert loaded.text == expected
    assert loaded.format == ("markdown" if name.endswith(".md") else "text")


@pytest.mark.parametrize(
    ("name", "data", "max_bytes", "reason"),
    [
        ("empty.txt", b"", 64 * MB, "empty file"),
        ("blank.md", b"  \n\n\t \n", 64 * MB, "empty file"),
        ("nul.txt", b"GIF89a\x00\x01\x02\x00binary", 64 * MB, "binary file (contains NUL bytes)"),
        ("odd.txt", b"\xff\xfeA\x00\x00\xd8", 64 * MB, "text does not match its UTF-16-LE byte-order mark"),
        ("marked.bin.txt", b"\xff\xfe\x00bin\x00\x00", 64 * MB, "binary file (NUL characters after its UTF-16-LE"),
        ("big.txt", b"word " * 300_000, 1 * MB, "file is larger than 1 MB"),
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf\n", 64 * MB, "PDF could not be parsed"),
        ("script.html", b"<html><head><title>T</title><script>var a = 1;</script></head><body> </body></html>", 64 * MB,
         "HTML page has no visible text"),
    ],
)
def test_read_file_rejects_with_reason(tmp_path: Path, name: str, data: bytes, max_bytes: int, reason: str) -> None:
    with pytest.raises(UnreadableFile) as info:
        _read(tmp_path, name, data, max_bytes)

    assert str(info.value).startswith(reason)


def test_read_file_pdf_without_text_is_rejected(tmp_path: Path, pdf_bytes: Callable[..., bytes]) -> None:
    with pytest.raises(UnreadableFile, match="no extractable text"):
        _read(tmp_path, "scan.pdf", pdf_bytes([]))


def test_read_file_pdf_gives_text_and_metadata_title(tmp_path: Path, pdf_bytes: Callable[..., bytes]) -> None:
    data = pdf_bytes(["Solar panels convert sunlight into electricity.", "They work best when facing south."], "Solar Basics")

    loaded = _read(tmp_path, "solar.pdf", data)

    assert loaded.format == "pdf"
    assert loaded.title == "Solar Basics"
    assert "Solar panels convert sunlight into electricity." in loaded.text
    assert "They work best when facing south." in loaded.text


def test_read_file_html_keeps_visible_text_and_titles_sections_by_heading(tmp_path: Path) -> None:
    html = (
        b"<!doctype html><html><head><title>Garden Guide</title><style>p { color: red }</style></head><body>"
        b"<nav>Home | About</nav>"
        b"<h1>Growing <em>Tomatoes</em></h1><p>Tomatoes need full sun and regular watering. Plant them after the last frost.</p>"
        b"<h2>Pests</h2><p>Aphids and hornworms are the most common pests.</p>"
        b"<script>var tracking = 1;</script><footer>Copyright notice</footer></body></html>"
    )

    loaded = _read(tmp_path, "garden.html", html)
    chunks = chunk_file(loaded, file_hash(html), 160)

    assert loaded.format == "html" and loaded.title == "Garden Guide"
    for hidden in ("Home | About", "tracking", "Copyright", "color: red"):
        assert hidden not in loaded.text
    assert [(c.title, c.text) for c in chunks] == [
        ("Growing Tomatoes", "Tomatoes need full sun and regular watering. Plant them after the last frost."),
        ("Pests", "Aphids and hornworms are the most common pests."),
    ]
    for chunk in chunks:  # line numbers point into the extracted text
        lines = loaded.text.splitlines()
        assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])


def test_read_file_html_without_headings_uses_the_page_title(tmp_path: Path) -> None:
    html = b"<html><head><title>Plain Page</title></head><body><p>Just one paragraph of text here.</p></body></html>"

    loaded = _read(tmp_path, "plain.html", html)

    assert [c.title for c in chunk_file(loaded, "h", 160)] == ["Plain Page"]
