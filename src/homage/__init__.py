"""homage: find what one media work borrows from another.

The package mirrors the pipeline: ``media`` decodes, ``audio`` fingerprints, ``library``
stores, ``match`` aligns, ``report`` writes, ``cli`` drives it all from the shell.
"""

__version__ = "0.1.0"
