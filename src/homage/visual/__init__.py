"""Frame descriptors behind one small interface, registered by name."""

from homage.visual.base import FrameDescriptor, l2_normalise
from homage.visual.pdq import PdqDescriptor

AVAILABLE_DESCRIPTORS: dict[str, type[FrameDescriptor]] = {
    PdqDescriptor.name: PdqDescriptor,
}

__all__ = ["AVAILABLE_DESCRIPTORS", "FrameDescriptor", "PdqDescriptor", "l2_normalise"]
