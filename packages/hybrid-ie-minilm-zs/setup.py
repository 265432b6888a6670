"""Builds the weights package with the checkpoint files taken from the repository's
`models/hybrid-ie-minilm-zs/` (or `$HYBRID_IE_CHECKPOINT_DIR`), so the weights are committed
once. Build the wheel from a checkout (`make wheels`); a build without those files fails naming them.
"""

import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SOURCE = Path(os.environ.get("HYBRID_IE_CHECKPOINT_DIR", HERE.parents[1] / "models" / "hybrid-ie-minilm-zs"))
# what a checkpoint folder holds (hybrid_ie.checkpoints), the model card and the training recipe
FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "train_config.json",
         "README.md")  # fmt: skip


def checkpoint_file(name: str) -> Path:
    path = SOURCE / name
    if not path.is_file():
        raise SystemExit(f"{path}: missing; the weights package is built from a checkout's models/ "
                         "(or set HYBRID_IE_CHECKPOINT_DIR)")  # fmt: skip
    return path


class BuildWithCheckpoint(build_py):
    """build_py, then the checkpoint files into the package's `model/` folder."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "hybrid_ie_minilm_zs" / "model"
        self.mkpath(str(target))
        for name in FILES:
            self.copy_file(str(checkpoint_file(name)), str(target / name))


setup(
    long_description=checkpoint_file("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    cmdclass={"build_py": BuildWithCheckpoint},
)
