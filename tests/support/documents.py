"""Questions and a small new document shared by the page and browser tests."""

from __future__ import annotations

__all__ = ["EXAMPLE_ANSWER", "NEW_DOC", "NEW_DOC_NAME", "NEW_DOC_QUESTION", "UNANSWERABLE", "make_pdf_pages"]

EXAMPLE_ANSWER = "13,000 to 14,000"
UNANSWERABLE = "What is the capital of France?"
NEW_DOC_NAME = "kizimkazi_lighthouse.md"
NEW_DOC = """# The Kizimkazi lighthouse

The Kizimkazi lighthouse stands on the southern tip of Zanzibar island.
Its first keeper, Amina Juma, lit the lamp for the first time on 4 May 1931.
The tower is 23 metres tall and its light can be seen 18 nautical miles out to sea.
"""
NEW_DOC_QUESTION = "Who lit the Kizimkazi lighthouse lamp for the first time?"


def make_pdf_pages(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF with one page per entry (Helvetica text lines), with a correct xref table."""
    count = len(pages)
    page_ids = [3 + 2 * index for index in range(count)]  # each page object is followed by its content stream
    font_id = 3 + 2 * count
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{' '.join(f'{i} 0 R' for i in page_ids)}] /Count {count} >>"]
    for page_id, lines in zip(page_ids, pages, strict=True):
        content = "BT /F1 12 Tf 14 TL 72 720 Td " + " ".join(f"({line}) Tj T*" for line in lines) + " ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font_id} 0 R >> >> "
            f"/Contents {page_id + 1} 0 R >>"
        )
        objects.append(f"<< /Length {len(content)} >>\nstream\n{content}\nendstream")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
