"""OCR bench: a 10-page scan made here, read by Tesseract; prints the seconds it took and the share of words read right.

Run: `python -m evals.bench_ocr [--pages 10] [--born-digital FILE.pdf ...]`. The scan is a text PDF (generated
prose, reportlab) rendered by pdftoppm at 200 dpi and put back into a PDF of page images, as a scanner makes it.
With --born-digital, each named PDF is read too, to show that no OCR runs on a PDF that has text.
"""

from __future__ import annotations

import argparse
import difflib
import random
import subprocess
import tempfile
import time
from pathlib import Path

from ingest.loader import OcrOptions, read_file
from ingest.text import words

__all__ = ["main", "make_scan", "word_match"]

_SUBJECTS = ["The committee", "A local farmer", "The river authority", "Our reporter", "The city council", "A young engineer"]
_VERBS = ["described", "measured", "inspected", "repaired", "announced", "questioned", "photographed"]
_OBJECTS = ["the old bridge", "a flooded meadow", "the winter harvest", "three broken pumps", "the annual budget"]
_TAILS = ["before dawn", "after a long debate", "with great care", "despite the rain", "for the first time"]


def _prose(page: int, sentences: int) -> str:
    rng = random.Random(page)
    return " ".join(
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)} in report {page}-{k}."
        for k in range(sentences)
    )


def make_scan(folder: Path, pages: int, sentences: int = 24) -> tuple[Path, list[str]]:
    """(scanned PDF, each page's source text): prose pages rendered to 200 dpi images and put back into a PDF."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfgen import canvas
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    texts = [_prose(page, sentences) for page in range(1, pages + 1)]
    styles = getSampleStyleSheet()
    story: list[object] = []
    for text in texts:
        story += [Paragraph(text, styles["BodyText"]), PageBreak()]
    source = folder / "source.pdf"
    SimpleDocTemplate(str(source), pagesize=A4).build(story[:-1])
    subprocess.run(["pdftoppm", "-r", "200", "-png", str(source), str(folder / "page")], check=True)
    scan = folder / "scan.pdf"
    sheet = canvas.Canvas(str(scan), pagesize=A4)
    for image in sorted(folder.glob("page*.png")):
        sheet.drawImage(str(image), 0, 0, *A4)
        sheet.showPage()
    sheet.save()
    return scan, texts


def word_match(source: str, read: str) -> float:
    """Share of the source's words that OCR read, in order (difflib's longest matching blocks over word lists)."""
    expected, got = words(source), words(read)
    matcher = difflib.SequenceMatcher(a=expected, b=got, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(1, len(expected))


def main() -> None:
    """Print the scan's ingest time and word match, and the born-digital PDFs' read times."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--born-digital", type=Path, nargs="*", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scan, texts = make_scan(Path(tmp), args.pages)
        started = time.perf_counter()
        loaded = read_file(scan.read_bytes(), scan, "scan.pdf", 10**9, ocr=OcrOptions())
        seconds = time.perf_counter() - started
    print(f"scan: {args.pages} pages read by OCR ({loaded.pages.ocr_pages}) in {seconds:.1f} s ({seconds / args.pages:.1f} s a page)")
    print(f"scan: {word_match(' '.join(texts), loaded.text):.1%} of the source's words read right")
    for pdf in args.born_digital:
        started = time.perf_counter()
        loaded = read_file(pdf.read_bytes(), pdf, pdf.name, 10**9, ocr=OcrOptions())
        print(f"{pdf.name}: read in {time.perf_counter() - started:.1f} s, {loaded.pages.ocr_pages} pages by OCR")


if __name__ == "__main__":
    main()
