"""Parallel and cluster work on Ray.

Indexing: one long-lived worker process (an actor) per CPU decodes, fingerprints and
describes files and writes each work straight to the shared library, while the caller's
process hands out batches and relays progress.  Scanning: workers that hold the library's
indexes once match batches of queries, with frame-vector search optionally served by shard
actors across the cluster (``shards``).

Ray is an optional dependency (``pip install 'homage[cluster]'``); nothing here imports it
until :func:`index_on_ray` or :func:`scan_on_ray` runs.
"""

from homage.cluster.driver import ClusterReport, index_on_ray
from homage.cluster.scan import scan_on_ray

__all__ = ["ClusterReport", "index_on_ray", "scan_on_ray"]
