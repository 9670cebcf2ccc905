"""spelke: unsupervised object segmentation in images and video.

Methods that learn to find objects from appearance, motion and language; generators for the benchmarks
they are trained on; cached motion signals; and one verified evaluation library.

Examples:
    >>> import numpy as np, spelke.eval
    >>> true = np.array([[[0, 1], [1, 2]]])
    >>> float(spelke.eval.ari(true, true)[0])
    1.0
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
