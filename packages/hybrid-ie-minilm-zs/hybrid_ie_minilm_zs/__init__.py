"""hybrid-ie-minilm-zs: the default encoder checkpoint of hybrid-ie, as a weights package.

`get_model_path()` is the folder of `config.json`, `model.safetensors`, the tokenizer files and
the model card. hybrid-ie finds it through the entry-point group `hybrid_ie.checkpoints`, so
`hybrid_ie.extract(...)` and `JointEncoder.from_pretrained()` load it with no path given.
"""

from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent / "model"


def get_model_path() -> Path:
    """The folder holding the checkpoint's files."""
    return MODEL_DIR
