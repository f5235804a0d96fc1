"""Writers of results: match JSON, CSV (and later the HTML report)."""

from homage.report.tabular import write_csv, write_json
from homage.report.words import describe_transform, timecode

__all__ = ["describe_transform", "timecode", "write_csv", "write_json"]
