"""Image files (.png, .jpg, .tiff) read by OCR; each frame of a multi-page TIFF is a page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.formats import Section, StructureBuilder, UnreadableFile
from ingest.formats.ocr import OcrOptions, PageReport, read_pages

__all__ = ["IMAGE_SUFFIXES", "image_sections"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
# Pillow refuses images over ~179 megapixels as a decompression bomb; a page scanned at 600 dpi is ~35.
_MAX_PIXELS = 179_000_000


def image_sections(path: Path, ocr: OcrOptions | None) -> tuple[str, list[Section], str, PageReport]:
    """(text, sections, "", OCR report) of an image; raises UnreadableFile when it is no image or OCR reads nothing."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = _MAX_PIXELS
    try:
        image: Any = Image.open(path)
        frames = int(getattr(image, "n_frames", 1))
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError) as exc:
        raise UnreadableFile("not a readable image (PNG, JPEG or TIFF)") from exc

    def render(number: int) -> Any:
        image.seek(number - 1)
        return image.convert("RGB")

    try:
        read, report = read_pages(list(range(1, frames + 1)), ocr, render)
    finally:
        image.close()
    builder = StructureBuilder()
    for number, page in sorted(read.items()):
        for paragraph in page.paragraphs:
            # one frame: no page to name; a multi-page TIFF: its frame number
            builder.paragraph(paragraph, page=number if frames > 1 else None, ocr_confidence=page.confidence)
    text, sections = builder.result()
    if not sections and ocr is not None:
        raise UnreadableFile(report.reason or "OCR found no text in the image")
    return text, sections, "", report
