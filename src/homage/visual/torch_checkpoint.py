"""Read the tensors of a PyTorch checkpoint as numpy arrays, without torch and without running
code from the file.

``torch.load`` unpickles, and unpickling may call any importable function the file names.  This
reader allows only the few names a saved ``state_dict`` uses (an ``OrderedDict``, tensor
rebuilding, storage types) and refuses everything else, so a tampered weight file fails to load
instead of running code.  It reads the legacy (pre-1.6, non-zip) serialisation, the one the
pretrained EfficientNet-Lite0 weights ship in.
"""

from __future__ import annotations

import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

#: the first pickle of a legacy torch file, and the format version that follows it
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}


class CheckpointError(ValueError):
    """The file is not a checkpoint this reader accepts (wrong format, or it names code)."""


@dataclass(frozen=True)
class _StorageRef:
    """A storage named by the pickle; its bytes follow the pickles in the file."""

    key: str
    dtype: np.dtype
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    """A strided view of a storage, materialised once every storage has been read."""

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _StorageRef, offset: int, shape: tuple[int, ...],
                    stride: tuple[int, ...], *_ignored: object) -> _TensorRef:
    """Stands in for ``torch._utils._rebuild_tensor_v2`` (requires_grad, hooks are dropped)."""
    if not isinstance(storage, _StorageRef):
        raise CheckpointError("tensor without a storage")
    return _TensorRef(storage, int(offset), tuple(map(int, shape)), tuple(map(int, stride)))


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals of a plain ``state_dict``; any other name is refused.

    Storages the pickle names are collected in ``storages`` (key → reference), because their
    bytes follow the pickles in the file.
    """

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__(stream)
        self.storages: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str) -> object:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise CheckpointError(f"checkpoint names {module}.{name}, which is not allowed")

    def persistent_load(self, pid: object) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], np.dtype)):
            raise CheckpointError(f"unexpected persistent id {pid!r:.80}")
        ref = _StorageRef(key=str(pid[2]), dtype=pid[1], numel=int(pid[4]))
        self.storages.setdefault(ref.key, ref)
        return self.storages[ref.key]


def _unpickle(unpickler: _RestrictedUnpickler) -> object:
    try:
        return unpickler.load()
    except CheckpointError:
        raise
    except Exception as exc:  # a corrupt pickle can raise nearly anything
        raise CheckpointError(f"corrupt checkpoint ({exc})") from exc


def _read_storage(stream: BinaryIO, ref: _StorageRef) -> np.ndarray:
    """One storage as written by legacy torch: an int64 element count, then the raw data."""
    header = stream.read(8)
    if len(header) != 8 or struct.unpack("<q", header)[0] != ref.numel:
        raise CheckpointError(f"storage {ref.key}: size does not match its record")
    data = stream.read(ref.numel * ref.dtype.itemsize)
    if len(data) != ref.numel * ref.dtype.itemsize:
        raise CheckpointError(f"storage {ref.key}: truncated")
    return np.frombuffer(data, dtype=ref.dtype)


def _materialise(ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    """A contiguous native-endian copy of the tensor's view, after checking it stays inside
    its storage (a crafted stride must not read outside the buffer)."""
    flat = storages[ref.storage.key]
    if len(ref.shape) != len(ref.stride) or min(ref.stride, default=0) < 0 or ref.offset < 0:
        raise CheckpointError("tensor with an invalid layout")
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride, strict=True))
    if 0 not in ref.shape and last >= flat.size:
        raise CheckpointError("tensor reaches past its storage")
    itemsize = flat.dtype.itemsize
    view = np.ndarray(ref.shape, dtype=flat.dtype, buffer=flat, offset=ref.offset * itemsize,
                      strides=[s * itemsize for s in ref.stride])
    return np.array(view, dtype=flat.dtype.newbyteorder("="), order="C")


def _check_header(unpickler: _RestrictedUnpickler) -> None:
    if _unpickle(unpickler) != LEGACY_MAGIC:
        raise CheckpointError("not a legacy PyTorch checkpoint")
    if _unpickle(unpickler) != LEGACY_PROTOCOL:
        raise CheckpointError("unsupported PyTorch checkpoint version")
    sys_info = _unpickle(unpickler)
    if not (isinstance(sys_info, dict) and sys_info.get("little_endian") is True):
        raise CheckpointError("checkpoint written on a big-endian machine")


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a legacy ``torch.save(model.state_dict())`` file.

    Parameters
    ----------
    path:
        The ``.pth`` file.

    Returns
    -------
    dict
        Parameter name → array, in file order, with the checkpoint's shapes and dtypes.

    Raises
    ------
    CheckpointError
        The file is not such a checkpoint, is truncated, or names anything but tensors.
    """
    with open(path, "rb") as stream:
        if stream.read(2) == b"PK":
            raise CheckpointError("zip-format (torch >= 1.6) checkpoints are not supported")
        stream.seek(0)
        unpickler = _RestrictedUnpickler(stream)
        _check_header(unpickler)
        state = _unpickle(unpickler)
        keys = _unpickle(unpickler)
        if not isinstance(state, dict) or not isinstance(keys, list) \
                or set(map(str, keys)) != set(unpickler.storages):
            raise CheckpointError("checkpoint does not hold a state_dict")
        storages = {str(k): _read_storage(stream, unpickler.storages[str(k)]) for k in keys}
    return {name: _materialise(t, storages) for name, t in state.items()
            if isinstance(t, _TensorRef)}
