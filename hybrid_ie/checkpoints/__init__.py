"""Encoder checkpoints: where they are found, what their folder holds, how weights are stored.

    from hybrid_ie.checkpoints import find, read_config
    folder = find()                       # the default checkpoint (its weights package, or models/)

Modules: `config` (`EncoderConfig`: what config.json holds), `lookup` (the lookup order: explicit path, installed weights package, `models/` of a
checkout, the Hugging Face hub), `files` (config.json + model.safetensors: reading, writing,
configs without machine paths), `storage` (fp32 / fp16 / int8 weight files; needs torch, so it
is not imported here). The room depends on the core only; the encoder loads its network from
what this room reads, and `hybrid-ie models list` shows what `lookup` finds.
"""

from hybrid_ie.checkpoints.config import EncoderConfig
from hybrid_ie.checkpoints.files import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    portable_backbone,
    portable_config,
    read_config,
    read_weights,
    write_checkpoint,
)
from hybrid_ie.checkpoints.lookup import (
    DEFAULT_CHECKPOINT,
    ENTRY_POINT_GROUP,
    Found,
    backbone_path,
    checkout_models,
    download,
    find,
    installed_packages,
    locate,
    resolve,
)
from hybrid_ie.errors import EncoderLoadError

__all__ = ["CONFIG_NAME", "DEFAULT_CHECKPOINT", "ENTRY_POINT_GROUP", "WEIGHTS_NAME", "EncoderConfig", "EncoderLoadError", "Found",
           "backbone_path", "checkout_models", "download", "find", "installed_packages", "locate",
           "portable_backbone", "portable_config", "read_config", "read_weights", "resolve", "write_checkpoint"]  # fmt: skip
