"""A user's own ONNX model as the frame descriptor (``--descriptor onnx:PATH``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

from homage.cli.main import cli
from homage.config import Settings, parse_descriptor
from homage.errors import ParameterError
from homage.pipeline import compare_files
from homage.visual import descriptor_for
from homage.visual.onnx_file import OnnxFileDescriptor, model_name
from synth_video import Footage


def tiny_model(path: Path, *, side: int = 64, pooled: bool = True) -> Path:
    """A model that averages each colour over a 4 × 4 grid: (n, 48), or the (n, 3, 4, 4)
    map itself when not ``pooled`` (then GeM-pooled by homage to (n, 3))."""
    nodes = [helper.make_node("AveragePool", ["image"], ["grid"],
                              kernel_shape=[side // 4, side // 4],
                              strides=[side // 4, side // 4])]
    if pooled:
        nodes.append(helper.make_node("Flatten", ["grid"], ["embedding"]))
    out_shape = ["n", 48] if pooled else ["n", 3, 4, 4]
    graph = helper.make_graph(
        nodes, "grid", [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                      ["n", 3, side, side])],
        [helper.make_tensor_value_info("embedding" if pooled else "grid", TensorProto.FLOAT,
                                       out_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_the_model_describes_frames_at_its_own_input_size(tmp_path: Path) -> None:
    name = model_name(tiny_model(tmp_path / "grid.onnx"))
    descriptor = OnnxFileDescriptor(name)
    assert (descriptor.input_size, descriptor.dim) == ((64, 64), 48)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    vectors = descriptor.describe(frames)
    assert vectors.shape == (3, 48)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    feature_map = OnnxFileDescriptor(model_name(tiny_model(tmp_path / "map.onnx",
                                                           pooled=False)))
    assert feature_map.dim == 3 and feature_map.describe(frames).shape == (3, 3)


def test_a_changed_missing_or_broken_model_is_refused(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "grid.onnx")
    name = model_name(path)
    tiny_model(path, side=32)  # replaced at the same path
    with pytest.raises(ParameterError, match="changed since this library"):
        OnnxFileDescriptor(name)
    with pytest.raises(ParameterError, match="not found"):
        parse_descriptor(f"onnx:{tmp_path / 'missing.onnx'}")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ParameterError, match="not a loadable ONNX model"):
        descriptor_for(parse_descriptor(f"onnx:{tmp_path / 'junk.onnx'}"))
    with pytest.raises(ParameterError, match="unknown descriptor"):
        parse_descriptor("clip")


def test_a_library_built_on_the_model_keeps_it(tmp_path: Path, footage: Footage) -> None:
    model = tiny_model(tmp_path / "grid.onnx")
    library = tmp_path / "lib"
    runner = CliRunner()
    built = runner.invoke(cli, ["--library", str(library), "--descriptor", f"onnx:{model}",
                                "index", str(footage.ref)])
    assert built.exit_code == 0, built.output
    again = runner.invoke(cli, ["--library", str(library), "--descriptor", f"onnx:{model}",
                                "--kinds", "copy", "scan", str(footage.fresh)])
    assert again.exit_code == 0, again.output
    default = runner.invoke(cli, ["--library", str(library), "scan", str(footage.fresh)])
    assert default.exit_code == 1
    assert "other visual descriptor settings" in default.output


def test_copies_are_found_with_the_model(tmp_path: Path, footage: Footage) -> None:
    settings = Settings(kinds=("copy",)).with_overrides(
        descriptor=f"onnx:{tiny_model(tmp_path / 'grid.onnx')}")
    result = compare_files(footage.query, footage.ref, settings=settings)
    found = [m for m in result.matches if m.kind == "visual_copy"
             and m.query_start < 16.0 and m.query_end > 12.0]
    assert found, result.matches  # the ×2 unedited stretch, 12-16 s of the query
