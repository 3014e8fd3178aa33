"""What keeps the embedding model's memory small in a long-running process (issue 7).

`fingpt run` must idle under 500 MB; these pin the two measures that bought most of it
(docs/benchmarks/ops.md): the int8 quantisation runs in a child process, and the fp32 session
is never built when only the int8 one is used; an idle model is unloaded (EMBED_IDLE_SECONDS).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import onnxruntime.quantization
import pytest
from onnx import TensorProto, helper, numpy_helper

from orchestrator.analysis.rag.embeddings import FastEmbedEmbedder, quantise_model
from orchestrator.errors import ConfigError
from tests.rag.conftest import MODEL_DIR, MODEL_NAME


def _tiny_matmul_model(folder: Path) -> Path:
    """A one-MatMul ONNX graph (plus a tokenizer-like side file): quantises in milliseconds."""
    folder.mkdir()
    weight = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
        initializer=[weight],
    )
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "m.onnx"
    )
    (folder / "vocab.txt").write_text("a\nb\n")
    return folder


def test_quantisation_runs_outside_the_calling_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def in_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("quantised inside the calling process: its memory would stay")

    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", in_process)
    source = _tiny_matmul_model(tmp_path / "fp32")
    target = quantise_model(source, "m.onnx", tmp_path / "int8")
    ops = {node.op_type for node in onnx.load(target / "m.onnx").graph.node}
    assert "MatMulInteger" in ops and "MatMul" not in ops
    assert (target / "vocab.txt").read_text() == "a\nb\n"
    assert not list(target.glob("*.partial.onnx"))


def test_a_failed_quantisation_says_what_to_do_and_leaves_no_model(tmp_path: Path) -> None:
    source = tmp_path / "fp32"
    source.mkdir()
    (source / "m.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ConfigError, match="EMBED_INT8=false"):
        quantise_model(source, "m.onnx", tmp_path / "int8")
    assert not (tmp_path / "int8" / "m.onnx").exists()


def test_int8_never_builds_the_fp32_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not MODEL_DIR.is_dir():
        pytest.skip("../shared/models/all-MiniLM-L6-v2-onnx is not beside this checkout")
    loaded: list[str] = []
    real_session = onnxruntime.InferenceSession

    def recording(path: str, *args: object, **kwargs: object) -> object:
        loaded.append(path)
        return real_session(path, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", recording)
    embedder = FastEmbedEmbedder(MODEL_NAME, model_path=MODEL_DIR, cache_dir=tmp_path)
    assert embedder.identity.endswith("int8-t64")
    assert len(loaded) == 1 and "int8" in loaded[0], loaded


def test_an_idle_model_is_unloaded_and_reloads_with_the_same_vectors(tmp_path: Path) -> None:
    if not MODEL_DIR.is_dir():
        pytest.skip("../shared/models/all-MiniLM-L6-v2-onnx is not beside this checkout")
    embedder = FastEmbedEmbedder(
        MODEL_NAME, model_path=MODEL_DIR, cache_dir=tmp_path, idle_seconds=0.3
    )
    before = embedder.embed_documents(["Revenue rose 12% to $4.1 billion.", "Guidance cut."])
    deadline = time.monotonic() + 10
    while embedder.loaded and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not embedder.loaded
    after = embedder.embed_documents(["Revenue rose 12% to $4.1 billion.", "Guidance cut."])
    assert embedder.loaded
    assert np.array_equal(before, after)


def test_by_default_a_model_stays_loaded(tmp_path: Path) -> None:
    if not MODEL_DIR.is_dir():
        pytest.skip("../shared/models/all-MiniLM-L6-v2-onnx is not beside this checkout")
    embedder = FastEmbedEmbedder(MODEL_NAME, model_path=MODEL_DIR, cache_dir=tmp_path)
    time.sleep(0.2)
    assert embedder.loaded
