"""Parallel and cluster indexing on Ray: one long-lived worker process (an actor) per CPU
decodes, fingerprints and describes files and writes each work straight to the shared
library, while the caller's process hands out batches and relays progress.

Ray is an optional dependency (``pip install 'homage[cluster]'``); nothing here imports it
until :func:`index_on_ray` runs.
"""

from homage.cluster.driver import ClusterReport, index_on_ray

__all__ = ["ClusterReport", "index_on_ray"]
