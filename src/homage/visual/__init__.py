"""Frame descriptors behind one small interface, registered by name."""

from homage.visual.base import FrameDescriptor, l2_normalise
from homage.visual.efficientnet import EfficientNetLite0
from homage.visual.pdq import PdqDescriptor

AVAILABLE_DESCRIPTORS: dict[str, type[FrameDescriptor]] = {
    EfficientNetLite0.name: EfficientNetLite0,
    PdqDescriptor.name: PdqDescriptor,
}

__all__ = [
    "AVAILABLE_DESCRIPTORS",
    "EfficientNetLite0",
    "FrameDescriptor",
    "PdqDescriptor",
    "l2_normalise",
]
