"""{{name}}: a Hostel PDF processor written in Python (componentize-py), world
hostel:plugin/pdf-processor@0.1.0. `info` gives the page count, the version and
the /Title, /Author and /Producer of a PDF; `extract_text` the text of a page
range. A PDF without a title reports `[config] untitled` of hostel.toml as its
title. A broken PDF is `invalid-input` (HTTP 422). The parsing is minipdf.py, a
small reader in pure Python.
"""

from typing import List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.pdf import DocumentInfo, PageText
from wit_world.imports import config, log
from wit_world.imports.types import ErrorCode, PluginError

import minipdf


def invalid(message):
    return Err(PluginError(ErrorCode.INVALID_INPUT, message))


def guarded(read):
    """Runs `read`; an unexpected exception of the reader is a broken PDF
    (invalid-input) rather than a trap, which would discard the instance."""
    try:
        return read()
    except Err:
        raise
    except minipdf.PdfError as e:
        raise invalid(str(e))
    except Exception as e:
        raise invalid(f"broken PDF: {type(e).__name__}: {e}")


class Pdf(exports.Pdf):
    def info(self, document: bytes) -> DocumentInfo:
        return guarded(lambda: self.read_info(document))

    def extract_text(self, document: bytes, first: int, last: Optional[int]) -> List[PageText]:
        return guarded(lambda: self.read_text(document, first, last))

    def read_info(self, document):
        doc = minipdf.Document(document)
        return DocumentInfo(
            page_count=len(doc.pages),
            title=doc.info("Title") or config.get("untitled"),
            author=doc.info("Author"),
            producer=doc.info("Producer"),
            version=doc.version,
        )

    def read_text(self, document, first, last):
        doc = minipdf.Document(document)
        count = len(doc.pages)
        end = count if last is None else last
        if first == 0 or first > end or end > count:
            raise invalid(f"page range {first}..={end} is outside the document's pages 1..={count}")
        log.log(log.Level.DEBUG, f"extracting pages {first}..={end} of {count}")
        pages = []
        for page in range(first, end + 1):
            try:
                pages.append(PageText(page, doc.page_text(page - 1)))
            except minipdf.PdfError as e:
                raise invalid(f"page {page}: {e}")
        return pages
