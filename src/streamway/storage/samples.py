"""Sample files for a first run: ``streamway serve`` creates them in the default store directory.

``ensure_samples(directory)`` writes, only when the directory is missing or empty:

* ``sample-80MiB.bin``: 80 MiB of pseudo-random bytes, larger than API Gateway's 10 MB
  buffered limit and the 64 MB the README demonstrates;
* ``レポート 2025.pdf``: a one-page PDF with a non-ASCII name (Content-Disposition);

each with a ``.sha256`` sidecar, so downloads carry ``Repr-Digest`` and ``streamway get``
verifies them.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

from streamway.storage.local import SIDECAR_SUFFIX

LARGE_SAMPLE = "sample-80MiB.bin"
LARGE_SAMPLE_BYTES = 80 * 1024 * 1024
PDF_SAMPLE = "レポート 2025.pdf"


def ensure_samples(directory: Path) -> list[Path]:
    """Create the sample files if ``directory`` is missing or empty; return what was written."""
    if directory.is_dir() and any(directory.iterdir()):
        return []
    directory.mkdir(parents=True, exist_ok=True)
    written = [
        _write(directory / LARGE_SAMPLE, _pseudo_random_chunks(LARGE_SAMPLE_BYTES)),
        _write(directory / PDF_SAMPLE, [_one_page_pdf("streamway sample report 2025")]),
    ]
    return written


def _write(path: Path, chunks: Iterable[bytes]) -> Path:
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for chunk in chunks:
            digest.update(chunk)
            file.write(chunk)
    # Written after the file, so the sidecar is never older than what it describes.
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    sidecar.write_text(f"{digest.hexdigest()}  {path.name}\n", encoding="utf-8")
    return path


def _pseudo_random_chunks(size: int, chunk: int = 8 * 1024 * 1024) -> Iterator[bytes]:
    generator = random.Random(2025)  # same bytes on every machine, so checksums are stable
    for offset in range(0, size, chunk):
        yield generator.randbytes(min(chunk, size - offset))


def _one_page_pdf(text: str) -> bytes:
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
