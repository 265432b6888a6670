"""The local joint entity/relation encoder (GLiNER-Relex style).

    from hybrid_ie.encoder import JointEncoder
    encoder = JointEncoder.from_pretrained()          # the shipped checkpoint in models/
    docs = encoder.predict(["Steve Jobs founded Apple in Cupertino."], load_schema("conll04"))

Modules: `inputs` (token sequence layout), `model` (network + config), `decoding` (span/pair
decoding rules), `windowed` (what every backend shares: windows, `predict`, Document building),
`inference` (`JointEncoder`), `quantize` (int8 on CPU), `gliner_backend` (optional).
This package is inference only: training and calibration live in `hybrid_ie.training`.
"""

from hybrid_ie.encoder.inference import EncoderLoadError, JointEncoder
from hybrid_ie.encoder.model import EncoderConfig

__all__ = ["EncoderConfig", "EncoderLoadError", "JointEncoder"]
