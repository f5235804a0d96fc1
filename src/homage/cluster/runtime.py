"""Connecting to Ray: a cluster at ``ray://HOST:PORT``, or a local one of N CPUs started for
the run and stopped after it.  The only module that calls ``ray.init``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from types import ModuleType

from homage.errors import ParameterError

logger = logging.getLogger(__name__)

#: Object store of a local Ray started for a run: the batches' reports are small, and the
#: default (30 % of memory) would be taken from the decoders on a shared machine.
LOCAL_OBJECT_STORE_BYTES = 128 * 2**20


def import_ray() -> ModuleType:
    """The ``ray`` module, or a usage error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ParameterError("parallel indexing needs Ray: pip install 'homage[cluster]'"
                             ) from None
    return ray


def check_address(address: str) -> str:
    """Refuse a cluster address that is not ``ray://HOST:PORT`` (a typo would otherwise start
    a local Ray and look like success)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not address.startswith("ray://") or not host or not port.isdigit():
        raise ParameterError(f"expected a Ray address ray://HOST:PORT, not {address!r}")
    return address


@contextlib.contextmanager
def ray_session(*, address: str | None, workers: int | None) -> Iterator[ModuleType]:
    """Ray, connected for the duration of the block.

    A Ray already initialised in this process (a test's, an application's) is used as it is
    and left running; otherwise the block connects to ``address``, or starts a local Ray
    with ``workers`` CPUs, and shuts it down on the way out.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    # Ray's own start-up notices only when this application asked for homage's notices
    quiet = logging.WARNING if logger.isEnabledFor(logging.INFO) else logging.ERROR
    if address is not None:
        logger.info("connecting to the Ray cluster at %s", address)
        ray.init(address=check_address(address), logging_level=quiet,
                 log_to_driver=False)
    else:
        logger.info("starting a local Ray with %s CPUs", workers)
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 logging_level=quiet,
                 object_store_memory=LOCAL_OBJECT_STORE_BYTES)
    try:
        yield ray
    finally:
        ray.shutdown()
