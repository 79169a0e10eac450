"""Reading pass documents back the way a person's device would: PDF text with pypdf, the
page rasterised with pypdfium2 and its QR decoded with zxing-cpp."""

from __future__ import annotations

import io

import pypdf
import pypdfium2
import zxingcpp


def pdf_pages_text(body: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(body)).pages]


def pdf_qr_codes(body: bytes, page: int = 0, scale: float = 2.0) -> list[str]:
    """The QR codes zxing-cpp reads on one rasterised page (QR format only: a wider search
    once reported a spurious ITF code inside a QR)."""
    doc = pypdfium2.PdfDocument(body)
    try:
        image = doc[page].render(scale=scale).to_pil()
    finally:
        doc.close()
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [b.text for b in found]
