"""How a checkpoint stores its weights (`model.safetensors`), and reading them back as fp32.

- `fp32`: as trained.
- `fp16`: every floating tensor in half precision (half of fp32's size).
- `int8`: the large matrices (2-D with at least `MIN_INT8_VALUES` values: the word embeddings
  and the Linear weights) as int8 with one fp32 scale per row (symmetric: scale = the row's
  largest |w| / 127), stored as `NAME` (int8) and `NAME + SCALE_SUFFIX` (fp32); every other tensor
  fp16. About a quarter of fp32's size. Weight storage only: inference runs on the fp32 weights
  rebuilt at load (unlike `quantize`, which computes in int8).

`unpack` rebuilds fp32 tensors from any of the three, so loading never needs to know which one
was written; on CUDA inference then runs under autocast as before.
"""

from __future__ import annotations

import torch

STORAGES = ("fp32", "fp16", "int8")
SCALE_SUFFIX = ".int8_row_scale"
MIN_INT8_VALUES = 65536


def pack(state: dict[str, torch.Tensor], storage: str) -> dict[str, torch.Tensor]:
    """The tensors to write for `state` (fp32 or any float dtype) in `storage`."""
    if storage not in STORAGES:
        raise ValueError(f"unknown weight storage {storage!r}; expected one of {', '.join(STORAGES)}")
    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        value = value.detach().to("cpu")
        if not value.is_floating_point() or storage == "fp32":
            out[name] = value.float().contiguous() if value.is_floating_point() else value.contiguous()
        elif storage == "int8" and value.dim() == 2 and value.numel() >= MIN_INT8_VALUES:
            weights = value.float()
            scale = weights.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127
            out[name] = torch.round(weights / scale).clamp(-127, 127).to(torch.int8).contiguous()
            out[name + SCALE_SUFFIX] = scale.contiguous()
        else:
            out[name] = value.to(torch.float16).contiguous()
    return out


def unpack(stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fp32 tensors by name from what `pack` wrote (in any storage)."""
    out = {}
    for name, value in stored.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        scale = stored.get(name + SCALE_SUFFIX)
        out[name] = value.float() * scale if scale is not None else value.float()
    return out
