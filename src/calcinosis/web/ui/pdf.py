"""Report -> PDF with WeasyPrint, from the print template and the print stylesheet.

WeasyPrint takes about a second to import, so it is imported on the first PDF, not at start-up.
It fetches nothing: the stylesheet is handed over as text and every URL scheme is refused, so no
value in a report can make the server request a resource.
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
from typing import Any

from calcinosis.web.ui.templating import environment
from calcinosis.web.ui.view import ReportView

PRINT_TEMPLATE = "report_print.html"
PRINT_STYLESHEET = "print.css"


def render_report_html(view: ReportView) -> str:
    return environment.get_template(PRINT_TEMPLATE).render(view=view)


def render_report_pdf(view: ReportView) -> bytes:
    """The PDF bytes; blocking and CPU-bound, so call it from a worker thread."""
    weasyprint = _weasyprint()
    fetcher = weasyprint.URLFetcher(allowed_protocols=())
    stylesheet = weasyprint.CSS(string=_stylesheet(), url_fetcher=fetcher)
    document = weasyprint.HTML(string=render_report_html(view), url_fetcher=fetcher)
    pdf: bytes = document.write_pdf(stylesheets=[stylesheet])
    return pdf


@functools.cache
def _weasyprint() -> Any:
    return importlib.import_module("weasyprint")


@functools.cache
def _stylesheet() -> str:
    static = importlib.resources.files("calcinosis.web") / "static" / PRINT_STYLESHEET
    return static.read_text(encoding="utf-8")
