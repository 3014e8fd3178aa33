"""Dense text embeddings: fastembed (ONNX, local) or an OpenAI-compatible endpoint.

`FastEmbedEmbedder` is tuned for ingest speed on a small CPU (see docs/benchmarks/rag.md):

* int8 dynamic quantisation of the MatMul weights (per channel) with
  ``onnxruntime.quantization``; the quantised copy is written once under ``VAR_DIR/models`` and
  reused. Per-channel MatMul-only keeps cosine >= 0.99 to fp32 where whole-graph per-tensor
  quantisation fell to ~0.94.
* a maximum sequence length of 64 tokens instead of 256: attention and MatMul cost fall about
  fourfold. A ~200-word chunk is ~260 word pieces, so its dense vector sees the chunk's first
  ~50 words; the sparse BM25 vector always covers every word, which is why retrieval is hybrid.
  Measured on 200 ECTSum calls: hybrid recall@5 0.850 at 64 tokens, 0.843 at 96 and at 128.

* batches run side by side, each on one onnxruntime thread (`workers`, default one per core),
  rather than one batch at a time on a pool of all cores: onnxruntime's pool spins while it
  waits for its slowest thread, so when the ingest's writer thread or another process takes a
  core the whole batch stalls. Whole ingest on two cores (docs/benchmarks/rag.md, with the
  writer thread of `knowledge.py`): 102-107 against 85 chunks/s quiet, 52-83 against 37-43 with
  another job on one core. Vectors are identical.

Each variant has its own `identity` (model, dimension, int8, max tokens) so a collection never
mixes vectors from different encoders.

Failure contract: constructing an embedder raises `ConfigError` when the model cannot be loaded
(missing path, no network to download it); `embed_*` raise `ProviderError` when an OpenAI-compatible
endpoint fails after the SDK's retries. Nothing returns an empty vector to mean "failed".
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from orchestrator.config import Settings
from orchestrator.errors import ConfigError, ProviderError
from orchestrator.memory import release_freed_memory

log = logging.getLogger(__name__)

# 64 word pieces: the length that clears 100 chunks/s on two cores (x2.6 over 128) with no
# measured loss of hybrid recall (docs/benchmarks/rag.md); EMBED_MODEL_PATH users keep this too.
DEFAULT_MAX_TOKENS = 64
# Texts per onnxruntime run. 8 ran faster than 16 with a run per core, but int8 activations are
# quantised per run (one scale over the batch), so the batch changes vectors slightly: hybrid
# recall@5 on the 200-call bench went 0.926 -> 0.925. Kept at 16, the size the recall was
# measured with.
FASTEMBED_BATCH = 16


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    identity: str
    dim: int

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


# Run by a child interpreter: `quantize_dynamic` loads the whole fp32 graph, copies it and
# leaves ~350 MB of peak and ~130 MB of freed-but-kept heap behind (glibc does not hand it back).
# Done in the service process, that stayed resident for its lifetime (docs/benchmarks/ops.md).
_QUANTISE_SCRIPT = """
import sys
from onnxruntime.quantization import QuantType, quantize_dynamic
quantize_dynamic(
    sys.argv[1],
    sys.argv[2],
    weight_type=QuantType.QInt8,
    per_channel=True,
    # Embedding-table (Gather) quantisation costs accuracy and saves no compute.
    op_types_to_quantize=["MatMul"],
)
"""


def quantise_model(source_dir: Path, model_file: str, target_dir: Path) -> Path:
    """Write an int8 copy of `source_dir` (ONNX + tokenizer files) to `target_dir`, once.

    The quantisation runs in a short-lived subprocess so its memory dies with it; raises
    `ConfigError` with the child's last error lines when it fails.
    """
    target = target_dir / model_file
    if target.is_file():
        return target_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    for item in source_dir.iterdir():
        if item.is_file() and item.suffix != ".onnx":
            shutil.copyfile(item, target_dir / item.name)
    partial = target.with_suffix(".partial.onnx")
    done = subprocess.run(
        [sys.executable, "-c", _QUANTISE_SCRIPT, str(source_dir / model_file), str(partial)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ConfigError(
            f"int8 quantisation of {source_dir / model_file} failed: {tail}. "
            "Set EMBED_INT8=false to use the fp32 model as it is."
        )
    partial.replace(target)  # atomic: a crash mid-way never leaves a half-written model
    return target_dir


class FastEmbedEmbedder:
    """fastembed `TextEmbedding` with optional int8 quantisation and a shorter max length.

    With `idle_seconds` > 0 the ONNX session (~100 MB resident with its buffers) is dropped once
    no text has been embedded for that long, and reloaded (~0.5 s) by the next call: a service
    that embeds a few news items every 30 minutes need not hold it in between (issue 7,
    docs/benchmarks/ops.md). Vectors do not change across a reload.
    """

    def __init__(
        self,
        model_name: str,
        *,
        model_path: Path | None = None,
        cache_dir: Path | None = None,
        int8: bool = True,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        threads: int | None = 1,
        workers: int | None = None,
        idle_seconds: float = 0.0,
    ) -> None:
        """`threads`: onnxruntime threads per batch (None: its default, one per core);
        `workers`: batches encoded at once (None: one per core)."""
        from fastembed import TextEmbedding

        kwargs: dict[str, Any] = {"threads": threads}
        if cache_dir is not None:
            kwargs["cache_dir"] = str(cache_dir / "fastembed")
        specific_path = str(model_path) if model_path else None
        self._max_tokens = max_tokens
        self._workers = max(1, workers or os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        try:
            if int8:
                # This instance only locates the fp32 files (downloading them if needed): lazy,
                # so the fp32 session (~115 MB) is never built just to be dropped.
                inner = TextEmbedding(
                    model_name, specific_model_path=specific_path, lazy_load=True, **kwargs
                ).model
                source_dir = Path(inner._model_dir)  # fastembed exposes no public accessor
                model_file = inner.model_description.model_file
                target = (cache_dir or Path("var")) / "models" / f"{_slug(model_name)}-int8"
                specific_path = str(quantise_model(source_dir, model_file, target))
            self._open = functools.partial(
                TextEmbedding, model_name, specific_model_path=specific_path, **kwargs
            )
            self._lock = threading.Lock()
            self._idle_seconds = idle_seconds
            self._last_use = time.monotonic()
            self._in_flight = 0
            self._model: Any = None
            model = self._acquire()
            self._release()
        except ConfigError:
            raise
        except Exception as exc:
            where = f"EMBED_MODEL_PATH={model_path}" if model_path else "download by name"
            raise ConfigError(
                f"Cannot load embedding model {model_name!r} ({where}): {exc}. Set "
                "EMBED_MODEL_PATH to a local copy or allow the download."
            ) from exc
        self.dim = int(model.embedding_size)
        variant = f"{'int8' if int8 else 'fp32'}-t{max_tokens}"
        self.identity = f"{_slug(model_name.split('/')[-1])}-{self.dim}-{variant}"

    def _acquire(self) -> Any:
        """The model, loaded again if it was dropped while idle; `_release` after use."""
        with self._lock:
            self._in_flight += 1
            if self._model is None:
                model = self._open()
                model.model.tokenizer.enable_truncation(max_length=self._max_tokens)
                self._model = model
                if self._idle_seconds > 0:  # one watcher per loaded model; it ends on unload
                    threading.Thread(
                        target=self._unload_when_idle, name="embedder-unload", daemon=True
                    ).start()
            return self._model

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._last_use = time.monotonic()

    def _unload_when_idle(self) -> None:
        while True:
            with self._lock:
                left = self._last_use + self._idle_seconds - time.monotonic()
                if self._in_flight:
                    left = self._idle_seconds  # a long ingest is not idle while it runs
                elif left <= 0:
                    self._model = None
                    break
            time.sleep(left)
        release_freed_memory()  # the session's weights and arena, freed just now
        log.info("embedding model unloaded after %.0f s unused", self._idle_seconds)

    @property
    def loaded(self) -> bool:
        """Whether the ONNX session is in memory now (False after an idle unload)."""
        return self._model is not None

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        batches = [texts[i : i + FASTEMBED_BATCH] for i in range(0, len(texts), FASTEMBED_BATCH)]
        try:
            model = self._acquire()
            if len(batches) == 1 or self._workers == 1:
                vectors = list(model.embed(texts, batch_size=FASTEMBED_BATCH))
            else:
                # One onnxruntime session serves concurrent runs; each releases the GIL.
                with self._lock:
                    if self._pool is None:
                        self._pool = ThreadPoolExecutor(self._workers, "embedder")
                    pool = self._pool
                parts = pool.map(lambda batch: list(model.embed(batch)), batches)
                vectors = [vector for part in parts for vector in part]
        finally:
            self._release()
        return _normalise(np.asarray(vectors, dtype=np.float32))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


class OpenAIEmbedder:
    """An OpenAI-compatible `/embeddings` endpoint through the official SDK."""

    BATCH = 64  # inputs per request; well under every provider's limit

    def __init__(self, model_name: str, *, base_url: str | None, api_key: str | None) -> None:
        from openai import OpenAI

        self._client = OpenAI(base_url=base_url, api_key=api_key or "unused", max_retries=3)
        self._model = model_name
        self.dim = len(self._request(["dimension probe"])[0])
        self.identity = f"openai-{_slug(model_name)}-{self.dim}"

    def _request(self, texts: list[str]) -> np.ndarray:
        import openai

        try:
            response = self._client.embeddings.create(model=self._model, input=texts)
        except openai.OpenAIError as exc:
            raise ProviderError(
                f"Embedding endpoint failed for model {self._model!r}: {exc}"
            ) from exc
        ordered = sorted(response.data, key=lambda item: item.index)
        return _normalise(np.asarray([item.embedding for item in ordered], dtype=np.float32))

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        parts = [self._request(texts[i : i + self.BATCH]) for i in range(0, len(texts), self.BATCH)]
        return np.vstack(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._request([text])[0]


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings select (EMBED_PROVIDER, EMBED_MODEL, EMBED_MODEL_PATH)."""
    if settings.embed_provider == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAIEmbedder(settings.embed_model, base_url=settings.openai_base_url, api_key=key)
    return FastEmbedEmbedder(
        settings.embed_model,
        model_path=settings.embed_model_path,
        cache_dir=settings.var_dir,
        int8=settings.embed_int8,
        idle_seconds=settings.embed_idle_seconds,
    )


def llama_embedding(embedder: Embedder) -> Any:
    """A llama-index `BaseEmbedding` backed by `embedder` (for `VectorStoreIndex`)."""
    from llama_index.core.embeddings import BaseEmbedding
    from pydantic import PrivateAttr

    class _Adapter(BaseEmbedding):
        _embedder: Any = PrivateAttr()

        def __init__(self, inner: Embedder) -> None:
            super().__init__(model_name=inner.identity, embed_batch_size=64)
            self._embedder = inner

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embedder.embed_query(query).tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._embedder.embed_documents([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._embedder.embed_documents(texts).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return _Adapter(embedder)
