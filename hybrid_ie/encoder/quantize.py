"""int8 inference for the joint encoder on CPU (`--quantize int8`).

Every `nn.Linear` of the network becomes an `Int8Linear` (W8A8): weights quantised once to int8
per output channel, activations quantised per token (row) at run time, the product taken in
int32 with `torch._int_mm` (oneDNN, VNNI where the CPU has it) and rescaled to fp32. Everything
else (embeddings, LayerNorm, attention softmax, the label dot products, calibration) stays fp32.

One activation scale per token (torch's fbgemm dynamic quantisation has one per tensor) and the
backbone's first transformer layer (it reads the embedding LayerNorm output) in fp32 were both
chosen for F1 on conll04 dev; README, "CPU speed", has the measurements.

Quantisation is a CPU path only: on CUDA the encoder runs bf16 autocast and `quantize`
refuses. Results are deterministic for a given batch (integer accumulation is exact).
"""

from __future__ import annotations

import torch
from torch import nn

from hybrid_ie.errors import HybridIEError

QUANTIZE_MODES = ("none", "int8")
# Linear layers left in fp32 (name prefixes): see the module docstring.
KEEP_FP32 = ("backbone.encoder.layer.0.",)


class QuantizeError(HybridIEError):
    """An unknown quantisation mode, or one this device or backend cannot run."""


class Int8Linear(nn.Module):
    """A frozen `nn.Linear` in int8: y = (q(x) @ q(W)^T) * s_x * s_w + b, with one symmetric
    scale per input row (s_x) and per output channel (s_w)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        qweight = torch.round(weight / scale.unsqueeze(1)).clamp(-127, 127).to(torch.int8)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("qweight", qweight)  # [N, K]; _int_mm reads its transpose in place
        self.register_buffer("weight_scale", scale)
        bias = None if linear.bias is None else linear.bias.detach().float().clone()
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, self.in_features).float()
        row_scale = rows.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
        qrows = torch.round(rows / row_scale).to(torch.int8)
        out = torch._int_mm(qrows, self.qweight.t()).float()
        out.mul_(row_scale).mul_(self.weight_scale)
        if self.bias is not None:
            out.add_(self.bias)
        return out.view(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 W8A8"


def quantize_linears(model: nn.Module, keep: tuple[str, ...] = KEEP_FP32) -> int:
    """Replace the model's `nn.Linear` layers (except names starting with `keep`) by
    `Int8Linear`, in place; returns how many were replaced."""
    replaced = 0
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            full = f"{parent_name}.{name}" if parent_name else name
            if isinstance(child, nn.Linear) and not full.startswith(keep):
                setattr(parent, name, Int8Linear(child))
                replaced += 1
    return replaced


def check_mode(mode: str) -> str:
    if mode not in QUANTIZE_MODES:
        raise QuantizeError(f"unknown quantize mode {mode!r}; choose one of {', '.join(QUANTIZE_MODES)}")
    return mode


def check_device(device: torch.device, backend: str) -> None:
    """int8 runs on CPU only; on CUDA the encoder uses bf16 autocast instead."""
    if device.type != "cpu":
        raise QuantizeError(
            f"--quantize int8 is a CPU path; the {backend} encoder is on {device}, where it runs bf16 "
            "autocast. Drop --quantize, or load it on the CPU (device='cpu')."
        )


__all__ = ["KEEP_FP32", "QUANTIZE_MODES", "Int8Linear", "QuantizeError", "check_device", "check_mode", "quantize_linears"]
