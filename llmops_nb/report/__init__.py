"""Reports: run a notebook with parameters and share it as one offline HTML file.

Example:
    >>> from llmops_nb.report import find_external_references
    >>> find_external_references("<p>no scripts</p>")
    []
"""

from llmops_nb.report._render import (
    NOTEBOOKS_DIR,
    REPORT_TEMPLATE_DIR,
    Report,
    export_html,
    find_external_references,
    render_demo_report,
    render_report,
)

__all__ = ["render_report", "render_demo_report", "NOTEBOOKS_DIR", "export_html", "Report", "find_external_references", "REPORT_TEMPLATE_DIR"]
