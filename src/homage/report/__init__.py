"""Writers of results: match JSON and CSV here; the HTML report in ``homage.report.html``
(imported on demand: it decodes media, which the JSON and CSV writers never need)."""

from homage.report.tabular import write_csv, write_json
from homage.report.words import describe_transform, time_range, timecode

__all__ = ["describe_transform", "time_range", "timecode", "write_csv", "write_json"]
