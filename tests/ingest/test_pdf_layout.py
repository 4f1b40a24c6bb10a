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
    ["3 Storage", "Store the lamp in a dry place and charge it to half every six months.",
     "Winter storage", "Keep the lamp above freezing so that the battery holds its charge."],
]
# Set larger than the body, and not in the outline: a run-in heading of the Storage section.
SUBHEADINGS = {"Winter storage"}


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
            pdf.setFont("Helvetica-Bold" if line in SUBHEADINGS else "Helvetica", 14 if line in SUBHEADINGS else 11)
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


def test_pdf_larger_line_outside_the_outline_is_a_subheading(tmp_path: Path) -> None:
    # not glued to the sentence after it ("Winter storage Keep the lamp ..."): a section under "Storage"
    data = _handbook(tmp_path / "lamp.pdf").read_bytes()
    loaded = read_file(data, tmp_path / "lamp.pdf", "lamp.pdf", 64 * 1024 * 1024, "auto")
    chunks = chunk_file(loaded, file_hash(data), 160)
    winter = next(c for c in chunks if "above freezing" in c.text)
    assert "Winter storage" not in winter.text
    assert "Winter storage" in winter.title
    assert not any("Winter storage" in c.text for c in chunks)
    assert next(c for c in chunks if "dry place" in c.text).title == "Storage"


def test_pdf_title_page_lines_before_the_outline_stay_text(tmp_path: Path) -> None:
    # a title page's larger lines (authors, affiliations) come before any outline entry: citable text
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path = tmp_path / "titled.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    height = A4[1]
    pdf.setFont("Helvetica-Bold", 14)
    pdf.drawString(72, height - 90, "Ann Author, Example University")
    pdf.showPage()
    pdf.bookmarkPage("Charging")
    pdf.addOutlineEntry("Charging", "Charging", level=0)
    pdf.setFont("Helvetica", 11)
    for number, line in enumerate(["Charging", *PAGES[0][1:]]):
        pdf.drawString(72, height - 90 - 20 * number, line)
    pdf.showPage()
    pdf.save()
    data = path.read_bytes()
    loaded = read_file(data, path, "titled.pdf", 64 * 1024 * 1024, "auto")
    chunks = chunk_file(loaded, file_hash(data), 160)
    assert any("Ann Author, Example University" in c.text for c in chunks)
    assert next(c for c in chunks if "full charge" in c.text).title == "Charging"
