"""How a checkpoint stores its weights (`model.safetensors`), and reading them back as fp32.

Storages `pack` writes:

- `fp32`: as trained.
- `fp16`: every floating tensor in half precision (half of fp32's size).
- `int8`: int8 with one scale per group of `GROUP_SIZE` consecutive values along the last (input)
  dimension, for the large matrices: 2-D with at least `MIN_INT8_VALUES` values (the word and
  position embeddings, every Linear weight of the backbone and the heads) whose row length
  `GROUP_SIZE` divides (a matrix with other rows stays fp16). Each is written as two tensors:
  `NAME`, int8 of the original shape [rows, cols], and `NAME + SCALE_SUFFIX`, fp16 of shape
  [rows, cols / GROUP_SIZE]. Symmetric: a group's scale is its largest |w| / 127, rounded to
  fp16 first (so the stored scale is the one the values were divided by) and at least fp16's
  smallest normal; value = round(w / scale) in [-127, 127], and w ~= value * scale. Every other
  floating tensor (LayerNorm, biases, token-type embeddings) is fp16. That is 1.125 bytes per
  value (1 + 2 / 16), about 0.28 of fp32's size. Weight storage only: inference runs on the fp32
  weights rebuilt at load (unlike `hybrid_ie.encoder.quantize`, which computes in int8).

`unpack` rebuilds fp32 tensors from any of them, and from the earlier int8 layout with one fp32
scale per row (`NAME + ROW_SCALE_SUFFIX`, [rows, 1]; read, no longer written): a scale tensor of
shape [rows, G] means G equal groups along the last dimension, so loading never needs to know
which storage was written (`save_pretrained` also records it in the file's metadata under
`STORAGE_METADATA_KEY`, for people reading the file). On CUDA inference then runs under autocast
as before.
"""

from __future__ import annotations

import torch

STORAGES = ("fp32", "fp16", "int8")
GROUP_SIZE = 16
MIN_INT8_VALUES = 65536
SCALE_SUFFIX = ".int8_group_scale"
ROW_SCALE_SUFFIX = ".int8_row_scale"
STORAGE_METADATA_KEY = "hybrid_ie_storage"


def pack(state: dict[str, torch.Tensor], storage: str, *, group_size: int = GROUP_SIZE) -> dict[str, torch.Tensor]:
    """The tensors to write for `state` (fp32 or any float dtype) in `storage` (`group_size`:
    the int8 groups' size)."""
    if storage not in STORAGES:
        raise ValueError(f"unknown weight storage {storage!r}; expected one of {', '.join(STORAGES)}")
    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        value = value.detach().to("cpu")
        if not value.is_floating_point():
            out[name] = value.contiguous()
        elif storage == "fp32":
            out[name] = value.float().contiguous()
        elif storage == "int8" and _grouped(value, group_size):
            out[name], out[name + SCALE_SUFFIX] = quantize_groups(value, group_size)
        else:
            out[name] = value.to(torch.float16).contiguous()
    return out


def _grouped(value: torch.Tensor, group_size: int) -> bool:
    return value.dim() == 2 and value.numel() >= MIN_INT8_VALUES and value.shape[1] % group_size == 0


def quantize_groups(weights: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 values of `weights`' shape, fp16 scales [rows, cols / group_size]) of a 2-D tensor."""
    rows, cols = weights.shape
    groups = weights.float().reshape(rows, cols // group_size, group_size)
    scale = (groups.abs().amax(dim=2) / 127).to(torch.float16)
    # never below fp16's smallest normal: no zero (or subnormal) scale, and a group of values that
    # small is still stored to within half of it (3e-5)
    tiny = torch.finfo(torch.float16).smallest_normal
    scale = torch.where(scale.float() < tiny, torch.tensor(tiny, dtype=torch.float16), scale)
    values = torch.round(groups / scale.float().unsqueeze(2)).clamp(-127, 127).to(torch.int8)
    return values.reshape(rows, cols).contiguous(), scale.contiguous()


def dequantize_groups(values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """fp32 weights from int8 `values` [rows, cols] and `scale` [rows, G] (G groups along cols)."""
    rows, cols = values.shape
    if scale.dim() != 2 or scale.shape[0] != rows or cols % scale.shape[1]:
        shapes = f"{tuple(scale.shape)} does not fit values of shape {(rows, cols)}"
        raise ValueError(f"int8 scale of shape {shapes}")
    groups = values.float().reshape(rows, scale.shape[1], cols // scale.shape[1])
    return (groups * scale.float().unsqueeze(2)).reshape(rows, cols)


def unpack(stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fp32 tensors by name from what `pack` wrote (in any storage, the earlier row layout too)."""
    out = {}
    for name, value in stored.items():
        if name.endswith((SCALE_SUFFIX, ROW_SCALE_SUFFIX)):
            continue
        scale = stored.get(name + SCALE_SUFFIX, stored.get(name + ROW_SCALE_SUFFIX))
        if scale is not None:
            out[name] = dequantize_groups(value, scale)
        else:
            out[name] = value.float() if value.is_floating_point() else value
    return out
