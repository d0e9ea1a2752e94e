"""Canny edge maps with ComfyUI's threshold convention (kornia's `canny`), computed with OpenCV.

Canny, "A Computational Approach to Edge Detection", IEEE TPAMI 1986. Like kornia: grayscale (BT.601
weights), Gaussian blur 5x5 with sigma 1, 3x3 Sobel gradients of the 0..1 image, L2 magnitude,
non-maximum suppression and hysteresis with the low/high thresholds on that magnitude.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
#: Gradients are handed to OpenCV as int16 in 1/GRADIENT_SCALE units of the 0..1 image.
GRADIENT_SCALE = 255.0


def canny_edges(images: torch.Tensor, low_threshold: float, high_threshold: float) -> torch.Tensor:
    """IMAGE [B, H, W, C] -> IMAGE [B, H, W, 3] of 0/1 edges (white on black)."""
    out = []
    for image in images.detach().to("cpu", torch.float32).numpy():
        gray = image[..., :3] @ _GRAY_WEIGHTS if image.shape[-1] >= 3 else image[..., 0]
        blurred = cv2.GaussianBlur(np.ascontiguousarray(gray, dtype=np.float32), (5, 5), 1.0)
        dx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3) * GRADIENT_SCALE
        dy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=3) * GRADIENT_SCALE
        edges = cv2.Canny(
            np.rint(dx).astype(np.int16),
            np.rint(dy).astype(np.int16),
            low_threshold * GRADIENT_SCALE,
            high_threshold * GRADIENT_SCALE,
            L2gradient=True,
        )
        out.append(torch.from_numpy((edges > 0).astype(np.float32)))
    return torch.stack(out).unsqueeze(-1).repeat(1, 1, 1, 3)
