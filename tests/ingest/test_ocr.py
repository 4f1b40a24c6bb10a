"""OCR for real: scans made here (a text PDF rendered to images by pdftoppm), read by Debian's Tesseract."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from corpusqa.settings import load_settings

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None or shutil.which("pdftoppm") is None,
    reason="Tesseract and pdftoppm come with `make install` (make ocr); without them only the missing-Tesseract test runs",
)

PAGES = [
    [
        "Harbour Crane Maintenance",
        "The east harbour crane lifts at most forty tonnes in calm weather.",
        "Its hoist cable is replaced every eighteen months by the dock engineers.",
    ],
    [
        "Storm Procedure",
        "When the wind passes sixty kilometres per hour the crane is parked facing north.",
        "The storm anchor pins are kept in the red locker beside the control cabin.",
    ],
]


def text_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A born-digital PDF: one page per list of lines (the first line set large, as a heading)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    sheet = canvas.Canvas(str(path), pagesize=A4)
    for lines in pages:
        y = 760.0
        for index, line in enumerate(lines):
            sheet.setFont("Helvetica", 18 if index == 0 else 12)
            sheet.drawString(72, y, line)
            y -= 30 if index == 0 else 20
        sheet.showPage()
    sheet.save()
    return path


def render_pages(pdf: Path, folder: Path, dpi: int = 200) -> list[Path]:
    """Each page of `pdf` as a PNG, rendered by pdftoppm."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(folder / "page")], check=True)
    return sorted(folder.glob("page*.png"))


def scanned_pdf(path: Path, pages: list[list[str]], *, text_pages: tuple[int, ...] = ()) -> Path:
    """A PDF of page images, as a scanner makes it; pages numbered in `text_pages` keep their text instead."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    work = path.parent / f".{path.stem}-render"
    images = render_pages(text_pdf(work.with_suffix(".pdf"), pages), work)
    sheet = canvas.Canvas(str(path), pagesize=A4)
    width, height = A4
    for number, (lines, image) in enumerate(zip(pages, images), start=1):
        if number in text_pages:
            y = 760.0
            for line in lines:
                sheet.setFont("Helvetica", 12)
                sheet.drawString(72, y, line)
                y -= 20
        else:
            sheet.drawImage(str(image), 0, 0, width, height)
        sheet.showPage()
    sheet.save()
    shutil.rmtree(work)
    work.with_suffix(".pdf").unlink()
    return path


def cropped_image(path: Path, lines: list[str]) -> Path:
    """A photo-like image of a few lines of text (the top of a rendered page), saved in the suffix's format."""
    from PIL import Image

    work = path.parent / f".{path.stem}-render"
    page = render_pages(text_pdf(work.with_suffix(".pdf"), [lines]), work)[0]
    with Image.open(page) as image:
        strip = image.crop((0, 0, image.width, int(image.height * 0.2))).convert("RGB")
    if path.suffix in (".tif", ".tiff"):
        second = strip.copy()
        strip.save(path, save_all=True, append_images=[second])  # two frames: two pages
    else:
        strip.save(path)
    shutil.rmtree(work)
    work.with_suffix(".pdf").unlink()
    return path


@pytest.fixture(scope="module")
def ocr_engine(tmp_path_factory: pytest.TempPathFactory, embedder):  # type: ignore[no-untyped-def]
    """A real engine over a two-page scan, a scan with one text page, and a PNG, a JPEG and a two-frame TIFF."""
    from rag import Engine

    root = tmp_path_factory.mktemp("ocr")
    corpus = root / "corpus"
    corpus.mkdir()
    scanned_pdf(corpus / "crane.pdf", PAGES)
    cropped_image(corpus / "notice.png", ["Visitors sign the yellow logbook at the gatehouse."])
    cropped_image(corpus / "ferry.jpg", ["The island ferry leaves the quay at quarter past seven."])
    cropped_image(corpus / "archive.tiff", ["The lighthouse archive is stored in the basement vault."])
    engine = Engine(load_settings(index_dir=root / "index", corpus_dir=corpus), embedder)
    report = engine.ingest([corpus])
    return engine, report


@needs_tesseract
def test_ocr_scanned_pdf_question_is_answered_and_cited_with_its_page(ocr_engine) -> None:  # type: ignore[no-untyped-def]
    engine, report = ocr_engine
    assert not report.skipped and not report.pages_skipped, report
    assert report.ocr_pages == 2 + 1 + 1 + 2  # the scan's pages, the PNG, the JPEG and the TIFF's two frames

    answer = engine.ask("Where are the storm anchor pins kept?")

    assert not answer.abstained, answer.answer
    assert "red locker" in answer.answer
    first = answer.citations[0]
    assert (first.source, first.page) == ("crane.pdf", 2)
    cited = first.to_json()
    assert cited["ocr"] is True and 50 < cited["ocr_confidence"] <= 100


@needs_tesseract
@pytest.mark.parametrize(
    ("question", "expected", "source", "page"),
    [
        ("Where do visitors sign?", "yellow logbook", "notice.png", None),
        ("When does the island ferry leave the quay?", "quarter past seven", "ferry.jpg", None),
        ("Where is the lighthouse archive stored?", "basement vault", "archive.tiff", 1),
    ],
)
def test_ocr_image_files_are_documents(ocr_engine, question: str, expected: str, source: str, page: int | None) -> None:  # type: ignore[no-untyped-def]
    engine, _ = ocr_engine

    answer = engine.ask(question)

    assert expected in answer.answer, answer.answer
    first = answer.citations[0]
    assert first.source == source
    assert first.page in (page, 2 if page else None)  # a TIFF's two frames hold the same line
    assert first.ocr_confidence is not None


@needs_tesseract
def test_ocr_born_digital_pages_are_not_read_by_ocr(tmp_path: Path) -> None:
    from ingest.loader import OcrOptions, read_file

    pdf = scanned_pdf(tmp_path / "mixed.pdf", PAGES, text_pages=(1,))
    seen: list[tuple[int, int]] = []

    loaded = read_file(pdf.read_bytes(), pdf, "mixed.pdf", 10**8, ocr=OcrOptions(on_page=lambda d, t: seen.append((d, t))))

    assert loaded.pages.ocr_pages == 1 and seen == [(1, 1)]  # only the scanned page, and progress said so
    pages = {p.page: p.ocr_confidence for s in loaded.sections for p in s.paragraphs}
    assert pages[1] is None and pages[2] is not None
    assert "storm anchor pins" in loaded.text.lower()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="the scan is made with pdftoppm (make ocr)")
@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"tesseract_cmd": "/nonexistent/bin/tesseract"}, "Tesseract (/nonexistent/bin/tesseract) is not installed"),
        ({"ocr": "off"}, "OCR is off (CORPUSQA_OCR=off)"),
        ({"ocr_langs": "eng+xqz"}, "no language pack for xqz"),
    ],
)
def test_ocr_unavailable_skips_pages_with_a_reason(tmp_path: Path, embedder, settings: dict[str, str], reason: str) -> None:  # type: ignore[no-untyped-def]
    """No Tesseract (a command path that does not exist), OCR off, or a missing language: the scanned pages and
    the image are skipped with the reason, the text page is indexed, and nothing raises."""
    from rag import Engine

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    scanned_pdf(corpus / "mixed.pdf", PAGES, text_pages=(1,))
    scanned_pdf(corpus / "scan.pdf", PAGES[1:])
    (corpus / "photo.png").write_bytes(_png())
    engine = Engine(load_settings(index_dir=tmp_path / "index", corpus_dir=corpus, **settings), embedder)

    report = engine.ingest([corpus])

    assert report.added == ["mixed.pdf"]
    assert [(item.path, item.pages) for item in report.pages_skipped] == [("mixed.pdf", (2,))]
    assert reason in report.pages_skipped[0].reason
    skipped = {item.path: item.reason for item in report.skipped}
    assert set(skipped) == {"scan.pdf", "photo.png"} and all(reason in text for text in skipped.values())
    assert reason in report.summary() and report.to_json()["pages_skipped"][0]["pages"] == [2]
    assert engine.ask("How much does the east harbour crane lift?").citations[0].page == 1


def _png() -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 80), "white")
    ImageDraw.Draw(image).text((10, 30), "A small photographed note", fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
