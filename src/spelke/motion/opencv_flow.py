"""Classical CPU flow from OpenCV: DIS (the CPU default) and Farnebäck.

Both work on 8-bit greyscale: frames are converted with OpenCV's RGB-to-grey weights
(0.299 R + 0.587 G + 0.114 B) after rounding to uint8.

* ``dis``: Dense Inverse Search (Kroeger et al., "Fast Optical Flow using Dense Inverse Search",
  ECCV 2016), ``cv2.DISOpticalFlow``, with its three presets ``ultrafast``, ``fast`` and ``medium``
  (the default) and every tunable exposed as an option.
* ``farneback``: polynomial-expansion flow (Farnebäck, SCIA 2003), ``cv2.calcOpticalFlowFarneback``,
  with the parameters of OpenCV's own sample (``pyr_scale=0.5, levels=3, winsize=15, iterations=3,
  poly_n=5, poly_sigma=1.2``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spelke.errors import ConfigError
from spelke.motion.backends import FlowBackend, as_bool, as_float, as_int, register_flow_backend

__all__ = ["DISFlow", "FarnebackFlow", "to_gray_u8"]

DIS_PRESETS = ("ultrafast", "fast", "medium")

# DIS option -> (OpenCV getter/setter suffix, type).
_DIS_PARAMS: dict[str, tuple[str, type]] = {
    "finest_scale": ("FinestScale", int),
    "patch_size": ("PatchSize", int),
    "patch_stride": ("PatchStride", int),
    "gradient_descent_iterations": ("GradientDescentIterations", int),
    "variational_refinement_iterations": ("VariationalRefinementIterations", int),
    "variational_refinement_alpha": ("VariationalRefinementAlpha", float),
    "variational_refinement_delta": ("VariationalRefinementDelta", float),
    "variational_refinement_gamma": ("VariationalRefinementGamma", float),
    "use_mean_normalization": ("UseMeanNormalization", bool),
    "use_spatial_propagation": ("UseSpatialPropagation", bool),
}


def to_gray_u8(frame: np.ndarray) -> np.ndarray:
    """Float (3, H, W) RGB in [0, 1] -> uint8 (H, W) grey (OpenCV's weights), rounded."""
    import cv2

    rgb = np.ascontiguousarray((np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _cv_version() -> str:
    import cv2

    return f"opencv-{cv2.__version__}"


@register_flow_backend("dis", summary="OpenCV DIS optical flow (CPU; presets ultrafast, fast, medium)")
class DISFlow(FlowBackend):
    """OpenCV's Dense Inverse Search optical flow.

    Args:
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"`` (default; the most accurate).
        finest_scale, patch_size, patch_stride, gradient_descent_iterations,
        variational_refinement_iterations, variational_refinement_alpha, variational_refinement_delta,
        variational_refinement_gamma, use_mean_normalization, use_spatial_propagation: override the
            preset's value of the DIS parameter of that name (None keeps the preset's).
    """

    def __init__(
        self,
        preset: str = "medium",
        finest_scale: int | None = None,
        patch_size: int | None = None,
        patch_stride: int | None = None,
        gradient_descent_iterations: int | None = None,
        variational_refinement_iterations: int | None = None,
        variational_refinement_alpha: float | None = None,
        variational_refinement_delta: float | None = None,
        variational_refinement_gamma: float | None = None,
        use_mean_normalization: bool | None = None,
        use_spatial_propagation: bool | None = None,
    ) -> None:
        import cv2

        super().__init__()
        preset = str(preset).lower()
        if preset not in DIS_PRESETS:
            raise ConfigError(f"DIS preset must be one of {', '.join(DIS_PRESETS)}, got {preset!r}")
        code = {
            "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        }[preset]
        self._dis = cv2.DISOpticalFlow_create(code)
        given = {
            "finest_scale": finest_scale,
            "patch_size": patch_size,
            "patch_stride": patch_stride,
            "gradient_descent_iterations": gradient_descent_iterations,
            "variational_refinement_iterations": variational_refinement_iterations,
            "variational_refinement_alpha": variational_refinement_alpha,
            "variational_refinement_delta": variational_refinement_delta,
            "variational_refinement_gamma": variational_refinement_gamma,
            "use_mean_normalization": use_mean_normalization,
            "use_spatial_propagation": use_spatial_propagation,
        }
        for key, value in given.items():
            if value is None or (isinstance(value, str) and value.lower() == "none"):
                continue
            camel, kind = _DIS_PARAMS[key]
            if kind is bool:
                converted: Any = as_bool(value, key)
            elif kind is int:
                converted = as_int(value, key, 0)
            else:
                converted = as_float(value, key, 0.0)
            getattr(self._dis, "set" + camel)(converted)
        # Record every parameter's effective value, so that a manifest says exactly what ran.
        self.options = {"preset": preset}
        for key, (camel, kind) in _DIS_PARAMS.items():
            self.options[key] = kind(getattr(self._dis, "get" + camel)())
        self.version = _cv_version()

    def _flow(self, frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
        flow = self._dis.calc(to_gray_u8(frame0), to_gray_u8(frame1), None)
        return np.ascontiguousarray(flow.transpose(2, 0, 1)).astype(np.float32, copy=False)


@register_flow_backend("farneback", summary="OpenCV Farnebäck polynomial-expansion optical flow (CPU)")
class FarnebackFlow(FlowBackend):
    """OpenCV's Farnebäck optical flow (``cv2.calcOpticalFlowFarneback``).

    Args:
        pyr_scale: image scale between pyramid levels (< 1).
        levels: number of pyramid levels.
        winsize: averaging window size; larger is more robust to noise, blurrier.
        iterations: iterations per pyramid level.
        poly_n: neighbourhood of the polynomial expansion (5 or 7).
        poly_sigma: Gaussian sigma of the polynomial expansion (1.1 for poly_n=5, 1.5 for 7).
        gaussian: use a Gaussian window instead of a box (``OPTFLOW_FARNEBACK_GAUSSIAN``).
    """

    def __init__(
        self,
        pyr_scale: float = 0.5,
        levels: int = 3,
        winsize: int = 15,
        iterations: int = 3,
        poly_n: int = 5,
        poly_sigma: float = 1.2,
        gaussian: bool = False,
    ) -> None:
        super().__init__()
        self.options = {
            "pyr_scale": as_float(pyr_scale, "pyr_scale", 0.0),
            "levels": as_int(levels, "levels", 1),
            "winsize": as_int(winsize, "winsize", 1),
            "iterations": as_int(iterations, "iterations", 1),
            "poly_n": as_int(poly_n, "poly_n", 1),
            "poly_sigma": as_float(poly_sigma, "poly_sigma", 0.0),
            "gaussian": as_bool(gaussian, "gaussian"),
        }
        if not 0 < self.options["pyr_scale"] < 1:
            raise ConfigError(f"option pyr_scale must be in (0, 1), got {pyr_scale}")
        self.version = _cv_version()

    def _flow(self, frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
        import cv2

        o = self.options
        flags = cv2.OPTFLOW_FARNEBACK_GAUSSIAN if o["gaussian"] else 0
        flow = cv2.calcOpticalFlowFarneback(
            to_gray_u8(frame0),
            to_gray_u8(frame1),
            None,
            o["pyr_scale"],
            o["levels"],
            o["winsize"],
            o["iterations"],
            o["poly_n"],
            o["poly_sigma"],
            flags,
        )
        return np.ascontiguousarray(flow.transpose(2, 0, 1)).astype(np.float32, copy=False)
