"""PDF layout: running headers, footers and page numbers are dropped; outline sections start at their own line."""

from __future__ import annotations

from pathlib import Path

from ingest.chunker import chunk_file
from ingest.loader import file_hash, read_file

# (page, lines) of a small handbook; "2 Cleaning" starts halfway down page 2.
PAGES = [
    ["1 Charging", "Connect the lamp to a charger with the cable that came with it.",
     "A full charge takes about four hours."],
    ["The indicator turns green when the battery is full.", "2 Cleaning",
     "Wipe the lens with a soft cloth and never use solvents on it."],
    ["Rinse the housing under a tap only when the rubber cap is closed."],
    ["3 Storage", "Store the lamp in a dry place and charge it to half every six months."],
]


def _handbook(path: Path) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    width, height = A4
    outline = {"1 Charging": "Charging", "2 Cleaning": "Cleaning", "3 Storage": "Storage"}
    for number, lines in enumerate(PAGES, start=1):
        pdf.setFont("Helvetica", 9)
        pdf.drawString(72, height - 40, f"Trail Lamp Handbook, chapter {number}")  # running header
        pdf.drawString(width / 2, 30, str(number))  # page number
        y = height - 90
        for line in lines:
            if line in outline:
                pdf.bookmarkPage(outline[line])
                pdf.addOutlineEntry(outline[line], outline[line], level=0)
            pdf.setFont("Helvetica", 11)
            pdf.drawString(72, y, line)
            y -= 20
        pdf.showPage()
    pdf.save()
    return path


def test_pdf_drops_running_headers_and_page_numbers(tmp_path: Path) -> None:
    data = _handbook(tmp_path / "lamp.pdf").read_bytes()
    loaded = read_file(data, tmp_path / "lamp.pdf", "lamp.pdf", 64 * 1024 * 1024, "auto")
    assert "Trail Lamp Handbook, chapter" not in loaded.text
    assert not any(line.strip().isdigit() for line in loaded.text.splitlines())
    assert "Rinse the housing under a tap" in loaded.text


def test_pdf_outline_section_starts_at_its_heading_line(tmp_path: Path) -> None:
    data = _handbook(tmp_path / "lamp.pdf").read_bytes()
    loaded = read_file(data, tmp_path / "lamp.pdf", "lamp.pdf", 64 * 1024 * 1024, "auto")
    chunks = chunk_file(loaded, file_hash(data), 160)

    def where(words: str) -> tuple[str, int | None]:
        chunk = next(c for c in chunks if words in c.text)
        return chunk.title, chunk.page

    # the top of page 2 still belongs to "Charging"; "Cleaning" begins at its own line
    assert where("indicator turns green") == ("Charging", 2)
    assert where("soft cloth") == ("Cleaning", 2)
    assert where("Rinse the housing") == ("Cleaning", 3)
    assert where("dry place") == ("Storage", 4)
    assert "2 Cleaning" not in loaded.text  # the heading line became the section title
