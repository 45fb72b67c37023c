"""Batched augmentation that prepares an MNIST model for canvas drawings.

Runs on whole batches on the training device (no per-image Python): random rotation,
scale and shift through one affine resampling, then a random stroke-thickness change
by blending with a grey-level dilation or erosion.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    max_rotation_deg: float = 12.0  # people tilt digits; MNIST is mostly upright
    scale_range: tuple[float, float] = (0.85, 1.1)  # preprocessing fixes size to ~20 px, give or take
    max_shift_px: float = 2.0  # centre of mass vs. box centre differs a little
    max_thickness: float = 0.6  # blend weight towards dilation (+) or erosion (-)


def thicken(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Blend each image towards its 3×3 dilation (amount > 0) or erosion (amount < 0)."""
    # x: (B, 1, H, W) in [0, 1]; amount: (B,)
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    a = amount.view(-1, 1, 1, 1)
    return torch.where(a >= 0, x + a * (dilated - x), x + (-a) * (eroded - x))


def augment(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return a randomly transformed copy of the batch x: (B, 1, 28, 28) in [0, 1]."""
    b, device = x.shape[0], x.device

    def uniform(lo, hi):
        return torch.rand(b, device=device, generator=generator) * (hi - lo) + lo

    angle = uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg) * (math.pi / 180)
    scale = uniform(*cfg.scale_range)
    shift = cfg.max_shift_px * 2 / x.shape[-1]  # pixels → normalised [-1, 1] coordinates
    tx, ty = uniform(-shift, shift), uniform(-shift, shift)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if cfg.max_thickness > 0:
        x = thicken(x, uniform(-cfg.max_thickness, cfg.max_thickness))
    return x.clamp_(0, 1)
