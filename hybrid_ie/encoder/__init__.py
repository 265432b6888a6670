"""The local joint entity/relation encoder (GLiNER-Relex style).

    from hybrid_ie.encoder import JointEncoder
    encoder = JointEncoder.from_pretrained()          # the default checkpoint
    docs = encoder.predict(["Steve Jobs founded Apple in Cupertino."], load_schema("conll04"))

Modules: `inputs` (token sequence layout), `model` (network), `decoding` (span/pair decoding
rules), `windowed` (what every backend shares: windows, `predict`, Document building),
`label_groups` (label sets too long for one input), `api` (`predict_entities` ...), `inference`
(`JointEncoder`), `quantize` (int8 on CPU). Inference only: training is `hybrid_ie.training`,
checkpoint files and lookup `hybrid_ie.checkpoints`, the GLiNER backend `hybrid_ie.integrations`.
"""

from hybrid_ie.checkpoints.config import EncoderConfig
from hybrid_ie.encoder.inference import JointEncoder
from hybrid_ie.errors import EncoderLoadError

__all__ = ["EncoderConfig", "EncoderLoadError", "JointEncoder"]
