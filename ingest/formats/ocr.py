"""OCR with Tesseract for pages that hold no text: PDF pages rendered by pdftoppm, and image files.

pytesseract rather than ocrmypdf: ingest needs the words of a few pages, not a new PDF. pytesseract runs
Tesseract on exactly the pages that need it and gives each word with its confidence (`image_to_data`);
ocrmypdf rewrites the whole file (through Ghostscript and qpdf) into a PDF with a text layer, whose text
we would then have to extract again, without the confidences.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["OcrOptions", "OcrPage", "OcrUnavailable", "PageReport", "check_ocr", "ocr_image", "read_pages", "render_pdf_page"]

#: Resolution PDF pages are rendered at for OCR. 200 dpi: most scans are made at 200-300 dpi, so rendering
#: higher only upsamples, and Tesseract takes about twice as long on a 300 dpi page (docs/documents.md).
RENDER_DPI = 200
# Seconds one page may take in pdftoppm or Tesseract before it is given up (a hostile or huge page).
_PAGE_TIMEOUT = 120


@dataclass(frozen=True)
class OcrOptions:
    """How ingest runs OCR: `mode` "auto" or "off", Tesseract's languages and program, a per-page callback."""

    mode: str = "auto"
    langs: str = "eng"
    tesseract_cmd: str = "tesseract"
    # called with (pages done, pages to do) of the current file as each page is read
    on_page: Callable[[int, int], None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class OcrPage:
    """The text Tesseract read on one page: its paragraphs, and the mean confidence (0-100) of its words."""

    paragraphs: list[str]
    confidence: float
    words: int


@dataclass(frozen=True)
class PageReport:
    """What OCR did for one file: pages it read, and pages that needed it but were left unread, with why."""

    ocr_pages: int = 0
    unread: tuple[int, ...] = ()
    reason: str = ""


class OcrUnavailable(Exception):
    """OCR cannot run here (Tesseract or a language pack missing, OCR turned off); the message says why and what to do."""


def check_ocr(options: OcrOptions) -> None:
    """Raise OcrUnavailable unless OCR is on and Tesseract, with every language asked for, is installed."""
    if options.mode == "off":
        raise OcrUnavailable("OCR is off (CORPUSQA_OCR=off)")
    _check_tesseract(options.tesseract_cmd, options.langs)


def _check_tesseract(command: str, langs: str) -> None:
    if shutil.which(command) is None:
        raise OcrUnavailable(
            f"Tesseract ({command}) is not installed; install it with `make install` or `apt-get install tesseract-ocr tesseract-ocr-eng`"
        )
    try:
        listed = subprocess.run([command, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OcrUnavailable(f"Tesseract ({command}) could not be run ({exc.__class__.__name__})") from exc
    installed = {line.strip() for line in listed.stdout.splitlines()[1:]}
    missing = [lang for lang in langs.split("+") if lang not in installed]
    if missing:
        packs = " ".join(f"tesseract-ocr-{lang}" for lang in missing)
        raise OcrUnavailable(f"Tesseract has no language pack for {', '.join(missing)}; install {packs} or change CORPUSQA_OCR_LANGS")


def render_pdf_page(path: Path, page: int, dpi: int = RENDER_DPI) -> Any:
    """Page `page` (1-based) of a PDF as a greyscale PIL image, rendered by poppler's pdftoppm."""
    from PIL import Image

    if shutil.which("pdftoppm") is None:
        raise OcrUnavailable("pdftoppm is not installed; install it with `make install` or `apt-get install poppler-utils`")
    try:
        done = subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-gray", "-png", "-f", str(page), "-l", str(page), "-singlefile", str(path)],
            capture_output=True, timeout=_PAGE_TIMEOUT, check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise OcrUnavailable(f"page {page} could not be rendered for OCR ({exc.__class__.__name__})") from exc
    import io

    image = Image.open(io.BytesIO(done.stdout))
    image.load()
    return image


def ocr_image(image: Any, options: OcrOptions) -> OcrPage:
    """Tesseract's reading of one image: words grouped into its paragraphs, with their mean confidence."""
    import pytesseract

    pytesseract.pytesseract.tesseract_cmd = options.tesseract_cmd
    try:
        data = pytesseract.image_to_data(image, lang=options.langs, output_type=pytesseract.Output.DICT, timeout=_PAGE_TIMEOUT)
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrUnavailable(f"Tesseract ({options.tesseract_cmd}) is not installed; install it with `make install`") from exc
    except (pytesseract.TesseractError, RuntimeError, OSError) as exc:  # RuntimeError: pytesseract's timeout
        raise OcrUnavailable(f"Tesseract failed on a page ({str(exc)[:100]})") from exc
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences: list[float] = []
    for index, word in enumerate(data["text"]):
        word = word.strip()
        confidence = float(data["conf"][index])
        if not word or confidence < 0:  # -1: a block or line record, not a word
            continue
        confidences.append(confidence)
        key = (int(data["block_num"][index]), int(data["par_num"][index]), int(data["line_num"][index]))
        lines.setdefault(key, []).append(word)
    paragraphs: dict[tuple[int, int], list[str]] = {}
    for (block, par, _), words in lines.items():
        paragraphs.setdefault((block, par), []).append(" ".join(words))
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    return OcrPage(["\n".join(lines_of) for lines_of in paragraphs.values()], mean, len(confidences))


def read_pages(pages: list[int], options: OcrOptions | None, render: Callable[[int], Any]) -> tuple[dict[int, OcrPage], PageReport]:
    """OCR the given 1-based pages (`render` makes each one's image); pages OCR cannot read are reported, never raised.

    With `options` None no OCR runs: the pages are only reported unread.
    """
    if not pages:
        return {}, PageReport()
    if options is None:
        return {}, PageReport(0, tuple(pages), "OCR is not run when a file is only viewed or checked")
    try:
        check_ocr(options)
    except OcrUnavailable as exc:
        return {}, PageReport(0, tuple(pages), str(exc))
    read: dict[int, OcrPage] = {}
    unread: list[int] = []
    reason = ""
    for done, number in enumerate(pages, start=1):
        try:
            read[number] = ocr_image(render(number), options)
        except OcrUnavailable as exc:
            unread.append(number)
            reason = str(exc)
        if options.on_page is not None:
            options.on_page(done, len(pages))
    return read, PageReport(len(read), tuple(unread), reason)
