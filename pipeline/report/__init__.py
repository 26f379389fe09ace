"""`newsbeam report`: what a run or a whole lake holds, in the terminal and as one HTML page with an
events map, a time line, families, top actors and places, duplicates and dead letters.

`data` reads the tables (any Beam filesystem, lake partitions, one run) into a `Report`; `charts`
draws it as inline SVG; `page` lays it out as text and HTML.
"""

from pipeline.report.data import Report, ReportError, Selection, build
from pipeline.report.page import to_html, to_text

__all__ = ["Report", "ReportError", "Selection", "build", "to_html", "to_text"]
