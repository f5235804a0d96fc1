"""Build EfficientNet-Lite0 as an ONNX graph from its ``state_dict`` arrays.

Writing the graph by hand (rather than exporting it with torch) keeps torch out of homage's
dependencies: the pretrained weights are read with :mod:`homage.visual.torch_checkpoint` and
the architecture below mirrors ``efficientnet_lite_pytorch`` (TensorFlow "SAME" padding,
ReLU6, no squeeze-excitation, stem and head not scaled).  Batch norms are folded into the
convolutions, since inference never updates them, so the graph is convolutions, clips and adds.

The graph takes frames as they come from the decoder, ``(n, height, width, 3)`` uint8 RGB, and
does the layout change and normalisation itself, so callers pass frames straight in.  Its
outputs are the generalised-mean (GeM, p = 3) pooled last feature map, a copy-detection
descriptor, and the ImageNet classifier's logits (computed, as trained, from average pooling).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: Bump when the graph changes, so cached conversions of older graphs are not reused.
GRAPH_VERSION = 1
OPSET = 17
#: the oldest IR version that carries opset 17, so older onnxruntime releases load the model
IR_VERSION = 8

#: (repeats, kernel, stride, expand_ratio, in_channels, out_channels) of the seven stages
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
BN_EPSILON = 1e-3
#: the normalisation the TensorFlow EfficientNet-Lite weights were trained with (RGB 0..255)
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
#: exponent of the generalised-mean pooled output; 1 would be average pooling
GEM_P = 3.0

INPUT = "frames"
OUTPUTS = ("gem", "logits")


def fold_batch_norm(weight: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                    mean: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convolution weight and bias equal to the convolution followed by an inference-mode batch
    norm: ``bn(conv(x)) = conv(x) * s + (beta - mean * s)`` with ``s = gamma / sqrt(var + eps)``.
    """
    scale = gamma / np.sqrt(var + BN_EPSILON)
    folded = weight * scale.reshape(-1, *([1] * (weight.ndim - 1)))
    return folded.astype(np.float32), (beta - mean * scale).astype(np.float32)


class _GraphBuilder:
    """Accumulates nodes and weights, checking every weight's shape against the architecture
    and that no weight of the checkpoint is left unused (a mismatched checkpoint must fail
    here rather than give silently wrong vectors)."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.weights = weights
        self.unused = {k for k in weights if not k.endswith("num_batches_tracked")}
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def weight(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in self.weights:
            raise ValueError(f"checkpoint lacks {name}")
        array = np.asarray(self.weights[name], dtype=np.float32)
        if array.shape != shape:
            raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
        self.unused.discard(name)
        return array

    def constant(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attributes: object) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def conv_bn(self, x: str, conv: str, bn: str, *, shape: tuple[int, int, int, int],
                stride: int = 1, groups: int = 1, relu6: bool = True) -> str:
        """Convolution ``conv`` (weight ``shape``: out, in per group, k, k) with batch norm
        ``bn`` folded in, "SAME" padded like TensorFlow, optionally followed by ReLU6."""
        channels = shape[0]
        bn_params = [self.weight(f"{bn}.{p}", (channels,))
                     for p in ("weight", "bias", "running_mean", "running_var")]
        w, b = fold_batch_norm(self.weight(f"{conv}.weight", shape), *bn_params)
        y = self.node("Conv", [x, self.constant(f"{conv}.w", w), self.constant(f"{conv}.b", b)],
                      conv, kernel_shape=list(shape[2:]), strides=[stride, stride],
                      auto_pad="SAME_UPPER", group=groups)
        return self.node("Clip", [y, "zero", "six"], f"{conv}.relu6") if relu6 else y


def _block_specs() -> list[tuple[int, int, int, int, int]]:
    """``(kernel, stride, expand_ratio, in_channels, out_channels)`` of each of the 16 blocks:
    a stage's first block changes stride and width, its repeats keep them."""
    specs = []
    for repeats, kernel, stride, expand, c_in, c_out in LITE0_STAGES:
        specs.append((kernel, stride, expand, c_in, c_out))
        specs.extend([(kernel, 1, expand, c_out, c_out)] * (repeats - 1))
    return specs


def _mbconv(g: _GraphBuilder, x: str, index: int,
            spec: tuple[int, int, int, int, int]) -> str:
    """Inverted bottleneck: 1x1 expand, kxk depthwise, 1x1 linear projection, identity skip
    when shape is kept."""
    kernel, stride, expand, c_in, c_out = spec
    mid, p = c_in * expand, f"_blocks.{index}"
    h = x
    if expand != 1:
        h = g.conv_bn(h, f"{p}._expand_conv", f"{p}._bn0", shape=(mid, c_in, 1, 1))
    h = g.conv_bn(h, f"{p}._depthwise_conv", f"{p}._bn1", shape=(mid, 1, kernel, kernel),
                  stride=stride, groups=mid)
    h = g.conv_bn(h, f"{p}._project_conv", f"{p}._bn2", shape=(c_out, mid, 1, 1), relu6=False)
    return g.node("Add", [h, x], f"{p}.skip") if stride == 1 and c_in == c_out else h


def _preprocess(g: _GraphBuilder) -> str:
    """uint8 NHWC frames → float NCHW scaled to the range the weights expect."""
    x = g.node("Cast", [INPUT], "to_float", to=TensorProto.FLOAT)
    x = g.node("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])
    x = g.node("Sub", [x, g.constant("pixel_mean", np.array(PIXEL_MEAN))], "centre")
    return g.node("Mul", [x, g.constant("pixel_scale", np.array(1.0 / PIXEL_STD))], "scale")


def _pooled_outputs(g: _GraphBuilder, feature_map: str) -> None:
    """GeM-pooled features (``mean(x ** p) ** (1 / p)``, x >= 0 after ReLU6) and the logits of
    the classifier over average-pooled features."""
    cubed = g.node("Pow", [feature_map, g.constant("gem_p", np.array(GEM_P))], "gem_pow")
    mean = g.node("GlobalAveragePool", [cubed], "gem_pool")
    root = g.node("Pow", [mean, g.constant("gem_inv_p", np.array(1.0 / GEM_P))], "gem_root")
    g.node("Flatten", [root], OUTPUTS[0], axis=1)
    pooled = g.node("GlobalAveragePool", [feature_map], "avg_pool")
    flat = g.node("Flatten", [pooled], "avg_flat", axis=1)
    fc_w = g.weight("_fc.weight", (NUM_CLASSES, HEAD_CHANNELS))
    fc_b = g.weight("_fc.bias", (NUM_CLASSES,))
    g.node("Gemm", [flat, g.constant("fc.w", fc_w), g.constant("fc.b", fc_b)], OUTPUTS[1],
           transB=1)


def build_efficientnet_lite0(weights: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """The EfficientNet-Lite0 inference graph with ``weights`` baked in.

    Parameters
    ----------
    weights:
        The model's ``state_dict`` as arrays (see ``torch_checkpoint.load_state_dict``).

    Returns
    -------
    onnx.ModelProto
        Input ``frames`` (n, h, w, 3) uint8 RGB; outputs ``gem`` (n, 1280), the GeM-pooled
        last feature map, and ``logits`` (n, 1000), ImageNet class scores.

    Raises
    ------
    ValueError
        A weight is missing, has the wrong shape, or is not part of the architecture.
    """
    g = _GraphBuilder(weights)
    g.constant("zero", np.array(0.0))
    g.constant("six", np.array(6.0))
    x = g.conv_bn(_preprocess(g), "_conv_stem", "_bn0", shape=(STEM_CHANNELS, 3, 3, 3),
                  stride=2)
    for index, spec in enumerate(_block_specs()):
        x = _mbconv(g, x, index, spec)
    last = LITE0_STAGES[-1][-1]
    x = g.conv_bn(x, "_conv_head", "_bn1", shape=(HEAD_CHANNELS, last, 1, 1))
    _pooled_outputs(g, x)
    if g.unused:
        raise ValueError(f"checkpoint has weights the graph does not use: {sorted(g.unused)}")
    graph = helper.make_graph(
        g.nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info(INPUT, TensorProto.UINT8, ["n", "height", "width", 3])],
        [helper.make_tensor_value_info(OUTPUTS[0], TensorProto.FLOAT, ["n", HEAD_CHANNELS]),
         helper.make_tensor_value_info(OUTPUTS[1], TensorProto.FLOAT, ["n", NUM_CLASSES])],
        initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="homage", ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    return model
