"""Driver scripts that run *inside* each peer's own virtual environment.

They are executed by path with the peer's interpreter (Python 2.7 for pydejavu, 3.8 for
sample-id, 3.11+ for audfprint2), never imported by homage, so each keeps to the syntax its
interpreter understands.  Every driver reads a request JSON and writes a result JSON in the
format documented in :mod:`homage.bench.peers._base`.
"""
