"""Frame descriptors behind one small interface, registered by name."""

import functools

from homage.errors import ParameterError
from homage.visual.base import FrameDescriptor, l2_normalise
from homage.visual.efficientnet import EfficientNetLite0
from homage.visual.onnx_file import PREFIX as ONNX_PREFIX
from homage.visual.onnx_file import OnnxFileDescriptor
from homage.visual.pdq import PdqDescriptor

AVAILABLE_DESCRIPTORS: dict[str, type[FrameDescriptor]] = {
    EfficientNetLite0.name: EfficientNetLite0,
    PdqDescriptor.name: PdqDescriptor,
}



@functools.cache
def descriptor_for(name: str) -> FrameDescriptor:
    """The descriptor registered as ``name`` (or the user's ONNX model, ``onnx:PATH``), built
    once per process (models load slowly)."""
    if name.startswith(ONNX_PREFIX):
        return OnnxFileDescriptor(name)
    try:
        return AVAILABLE_DESCRIPTORS[name]()
    except KeyError:
        raise ParameterError(
            f"unknown descriptor {name!r}; choose from {', '.join(AVAILABLE_DESCRIPTORS)} "
            f"or {ONNX_PREFIX}PATH (your own ONNX image model)"
        ) from None


__all__ = [
    "AVAILABLE_DESCRIPTORS",
    "EfficientNetLite0",
    "FrameDescriptor",
    "PdqDescriptor",
    "descriptor_for",
    "l2_normalise",
]
