"""Text to vectors, fully offline: a shipped static model2vec model (dense) and Qdrant's BM25 (sparse).

Error messages are mostly fixed templates, so lexical BM25 does most of the matching and the dense
vectors rescue rewordings. The model loads lazily (and can be warmed in the background) so the
server answers its first request without waiting for it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import qdrant_edge as qe

MODEL_DIR = Path(__file__).parent / "embedding_model"
DENSE = "dense"
SPARSE = "bm25"
OLLAMA = "ollama"


def _model_id(model_dir: Path) -> str:
    """Identifies the model by its weights, so a store built with another model is detected."""
    weights = model_dir / "model.safetensors"
    digest = hashlib.sha256()
    with weights.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"model2vec-{digest.hexdigest()[:12]}"


class Embedder:
    """Dense and sparse embeddings for queries and documents; thread-safe after loading."""

    def __init__(self, model_dir: Path = MODEL_DIR) -> None:
        self._model_dir = model_dir
        self._model = None
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None  # the background load, if one was started
        self._bm25 = qe.Bm25()
        self._id: str | None = None

    @property
    def model_id(self) -> str:
        if self._id is None:
            self._id = _model_id(self._model_dir)
        return self._id

    def _load(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from model2vec import StaticModel

                    self._model = StaticModel.from_pretrained(str(self._model_dir))
        return self._model

    def warm(self) -> None:
        self._load()

    @property
    def ready(self) -> bool:
        return self._model is not None

    @property
    def dimensions(self) -> int:
        """From the model's config, so opening the store need not wait for the model to load."""
        try:
            return int(json.loads((self._model_dir / "config.json").read_text())["hidden_dim"])
        except (OSError, KeyError, ValueError):
            return int(self._load().dim)

    def warm_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.warm, name="hybrid-lsp-model", daemon=True)
        thread.start()
        self._warming = thread
        return thread

    def settle(self, timeout: float = 60.0) -> None:
        """Wait for a background load to finish: a process must not exit while that thread is inside
        the model's native libraries (the interpreter's shutdown can crash under it)."""
        if self._warming is not None:
            self._warming.join(timeout)

    def dense(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self._load().encode(texts, show_progress_bar=False), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)

    def sparse_document(self, text: str) -> qe.SparseVector:
        return self._bm25.embed_document(text)

    def sparse_query(self, text: str) -> qe.SparseVector:
        return self._bm25.embed_query(text)


class OllamaEmbedder:
    """Embeddings from an Ollama server (e.g. nomic-embed-text), used as an extra retrieval vector.

    Never required: when Ollama is down, entries are stored and searched without this vector, and
    a breaker keeps a dead server from costing latency on every query.
    """

    def __init__(self, model: str, url: str, timeout: float) -> None:
        import ollama

        from .backends import BackendError, Breaker

        self.model, self.url = model, url
        self._client = ollama.Client(host=url, timeout=timeout)
        self._breaker = Breaker(threshold=1, cooldown=60.0)
        self._error = BackendError

    def embed(self, texts: list[str]) -> np.ndarray | None:
        if not texts or not self._breaker.allow():
            return None
        try:
            response = self._client.embed(model=self.model, input=texts)
            vectors = np.asarray(response.embeddings, dtype=np.float32)
            if vectors.ndim != 2 or len(vectors) != len(texts):
                raise ValueError(f"expected {len(texts)} vectors, got shape {vectors.shape}")
        except Exception as exc:  # connection refused, unknown model, garbage: all mean "not now"
            self._breaker.failure(self._error(f"Ollama embeddings at {self.url}: {exc}", unreachable=True))
            return None
        self._breaker.success()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)
