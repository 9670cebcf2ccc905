"""Reading and writing images, label maps, soft masks and JSON, every write atomic.

Conventions (docs/_fragments/data.md has the long form):

* images come back float32 ``(3, H, W)`` in [0, 1], whatever the bit depth or channel count on disk;
* label maps come back int64 ``(H, W)``; palette PNGs (DAVIS) are read as palette *indices*, greyscale
  PNGs (8- or 16-bit) as values; colour-coded RGB masks are refused unless asked for (``rgb=``);
* soft masks are ``.npz`` files with one float16 array ``probs`` of shape ``(K, H, W)``;
* every writer writes a temporary file next to the target and renames it over the target with
  :func:`os.replace`, so a reader never sees half a file and a crash leaves the old file (or none).

Errors: a missing file raises :class:`~spelke.errors.DataLayoutError`; a file that exists but cannot be
decoded as the expected format raises :class:`~spelke.errors.FileFormatError`; an array of the wrong
shape, dtype or range raises :class:`~spelke.errors.ShapeError`.

Examples:
    >>> import numpy as np, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_label_map(d / "a.png", np.array([[0, 1], [2, 300]]))   # ids >= 256: 16-bit greyscale
    >>> read_label_map(d / "a.png").tolist()
    [[0, 1], [2, 300]]
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from spelke._checks import as_label_batch, check_shape
from spelke.errors import DataLayoutError, FileFormatError, ShapeError

PathLike = str | os.PathLike[str]

#: File extensions read as images (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

__all__ = [
    "IMAGE_EXTENSIONS",
    "atomic_path",
    "atomic_write",
    "davis_palette",
    "read_binary_mask",
    "read_image",
    "read_json",
    "read_label_map",
    "read_soft_mask",
    "write_image",
    "write_json",
    "write_label_map",
    "write_soft_mask",
]


# --------------------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------------------


def _temp_name(path: Path) -> Path:
    # Same directory (so os.replace is a rename on one file system), hidden, and keeping the suffix so
    # that writers which pick a format from the extension (ffmpeg, OpenCV) still see it.
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``, on error delete it.

    For writers that insist on a file name (ffmpeg, ``cv2.imwrite``). The temporary name keeps the
    suffix. Parent directories are created.

    Examples:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "sub" / "x.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("hello")
        >>> target.read_text()
        'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileFormatError(f"writing {path}: the writer produced no file")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_write(
    path: PathLike, mode: str = "wb", *, encoding: str | None = None, fsync: bool = False
) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` for writing; on success rename it over ``path``.

    If the body of the ``with`` block raises, the temporary file is deleted and ``path`` is left as it
    was (absent or holding its previous content). Parent directories are created. The file gets the
    permissions a plain ``open`` would give it (0o666 minus the umask).

    Args:
        path: the target file.
        mode: ``"wb"`` (default) or ``"w"`` (text, UTF-8 unless ``encoding`` says otherwise).
        encoding: text encoding for ``mode="w"``.
        fsync: flush the data to disk before the rename (survives power loss, slower).

    Examples:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
        >>> with atomic_write(target, "w") as f:
        ...     _ = f.write("done")
        >>> target.read_text()
        'done'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write mode must be 'wb' or 'w', got {mode!r}")
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        if mode == "w":
            f: IO[Any] = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline="")
        else:
            f = os.fdopen(fd, "wb")
        with f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())


@contextlib.contextmanager
def folder_lock(folder: PathLike) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``folder`` (created if missing) for a read-modify-write that
    several processes (generator or flow shards) may do at once; no lock file is left behind. A no-op
    where the platform has no ``flock``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


# --------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------


def _require_file(path: PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        hint = " (it is a directory)" if p.is_dir() else ""
        raise DataLayoutError(f"{p} does not exist{hint}; expected {what} there — check the path")
    return p


def _read_bytes(path: Path) -> np.ndarray:
    # np.fromfile + imdecode instead of cv2.imread: works with non-ASCII paths and lets us tell a
    # missing file apart from an undecodable one.
    return np.fromfile(path, dtype=np.uint8)


def davis_palette() -> np.ndarray:
    """The 256-colour palette of DAVIS and PASCAL VOC label PNGs, ``(256, 3)`` uint8.

    Index ``i`` spreads its bits over the channels: bit ``3j`` goes to red, ``3j+1`` to green and
    ``3j+2`` to blue, each at bit position ``7-j`` of its channel. So 1 is dark red, 2 dark green, 3 olive.

    Examples:
        >>> davis_palette()[:4].tolist()
        [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    """
    idx = np.arange(256)
    pal = np.zeros((256, 3), dtype=np.int64)
    for j in range(8):
        for c in range(3):
            bit = (idx >> (3 * j + c)) & 1
            pal[:, c] |= bit << (7 - j)
    return pal.astype(np.uint8)


# --------------------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------------------


def read_image(path: PathLike) -> np.ndarray:
    """Read an image as float32 ``(3, H, W)`` in [0, 1].

    PNG, JPEG, BMP, TIFF, WebP; 8- and 16-bit (divided by 255 or 65535); greyscale is repeated to three
    channels; an alpha channel is dropped (not composited); palette images are expanded to colour.
    EXIF orientation is ignored (pixels are returned as stored), as in every dataset loader we compare to.

    Raises:
        DataLayoutError: the file does not exist.
        FileFormatError: the file cannot be decoded as an image.

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.png"
        >>> write_image(p, np.full((3, 2, 2), 0.5, np.float32))
        >>> read_image(p).shape, float(read_image(p).max().round(2))
        ((3, 2, 2), 0.5)
    """
    import cv2

    p = _require_file(path, "an image file (PNG/JPEG/...)")
    arr = cv2.imdecode(_read_bytes(p), cv2.IMREAD_UNCHANGED)
    if arr is None:
        arr = _read_image_pil(p)
    elif arr.ndim == 3:
        if arr.shape[2] == 4:
            arr = arr[:, :, :3]
        if arr.shape[2] == 3:
            arr = arr[:, :, ::-1]  # OpenCV decodes to BGR
    return _to_float_chw(arr, p)


def _read_image_pil(p: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            if im.mode in ("I;16", "I;16B", "I;16L"):
                return np.asarray(im).astype(np.uint16)
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise FileFormatError(
            f"cannot read {p} as an image (expected PNG/JPEG/BMP/TIFF/WebP): {e}; "
            "the file may be truncated or in another format"
        ) from None


def _to_float_chw(arr: np.ndarray, p: Path) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise FileFormatError(f"{p}: expected a greyscale, RGB or RGBA image, got array shape {arr.shape}")
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        out = arr.astype(np.float32) / 65535.0
    elif arr.dtype.kind == "f":
        out = np.clip(arr.astype(np.float32), 0.0, 1.0)
    else:
        raise FileFormatError(f"{p}: unsupported image sample type {arr.dtype} (expected 8/16-bit or float)")
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def _image_to_hwc(img: Any, bits: int) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype.kind == "f":
        if a.ndim == 2:
            a = a[None]
        check_shape(a, ["3", "H", "W"], "float image")
        if not np.all(np.isfinite(a)):
            raise ShapeError("image holds NaN or infinite values; expected floats in [0, 1]")
        lo, hi = float(a.min()), float(a.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ShapeError(
                f"float image must be in [0, 1], got range [{lo:.4g}, {hi:.4g}]; clip or rescale it first"
            )
        top = 255 if bits == 8 else 65535
        dtype = np.uint8 if bits == 8 else np.uint16
        return np.round(np.clip(a, 0, 1) * top).astype(dtype).transpose(1, 2, 0)
    if a.dtype == np.uint8 or a.dtype == np.uint16:
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        check_shape(a, ["H", "W", "3"], f"{a.dtype} image")
        return a
    raise ShapeError(
        f"image must be float (3, H, W) in [0, 1] or uint8 (H, W, 3), got dtype {a.dtype} shape {a.shape}"
    )


def write_image(path: PathLike, img: Any, *, bits: int = 8, quality: int = 95) -> None:
    """Write an image atomically; the format follows the extension (.png, .jpg, .bmp, .tif, .webp).

    Args:
        path: the target file; parent directories are created.
        img: float ``(3, H, W)`` in [0, 1] (also ``(H, W)`` greyscale), or uint8/uint16 ``(H, W, 3)``
            (also ``(H, W)``), channels in RGB order.
        bits: 8 or 16, bit depth for float input (16 only for PNG and TIFF).
        quality: JPEG/WebP quality, 0-100.

    Raises:
        ShapeError: wrong shape or dtype, or float values outside [0, 1].
    """
    import cv2

    if bits not in (8, 16):
        raise ShapeError(f"bits must be 8 or 16, got {bits}")
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        raise FileFormatError(
            f"cannot write an image to {p}: unknown extension; use one of {IMAGE_EXTENSIONS}"
        )
    hwc = _image_to_hwc(img, bits)
    if hwc.dtype == np.uint16 and ext not in (".png", ".tif", ".tiff"):
        raise ShapeError(f"16-bit images can be written as PNG or TIFF only, not {ext}")
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(hwc[:, :, ::-1]), params)
    if not ok:
        raise FileFormatError(f"OpenCV could not encode an image of shape {hwc.shape} as {ext} for {p}")
    with atomic_write(p) as f:
        f.write(buf.tobytes())


# --------------------------------------------------------------------------------------------------------
# Label maps
# --------------------------------------------------------------------------------------------------------

RgbMode = Literal["error", "ids", "palette", "packed"]


def read_label_map(path: PathLike, *, rgb: RgbMode = "error") -> np.ndarray:
    """Read a label map (instance ids, 0 = background) as int64 ``(H, W)``.

    * palette PNG (PIL mode ``P``, as DAVIS writes): the palette **indices**, whatever the colours;
    * greyscale PNG, 8- or 16-bit (and 1-bit): the stored values;
    * RGB(A) where the three channels agree everywhere: the (greyscale) values;
    * colour-coded RGB masks: refused unless ``rgb`` says how to turn colours into ids:
      ``"ids"`` numbers the distinct colours 1, 2, ... in increasing order of their packed value
      ``(r << 16) | (g << 8) | b`` with black = 0 (compact ids, not stable across frames that lack a
      colour); ``"palette"`` maps each colour to its index in :func:`davis_palette` (colours outside
      the palette are an error); ``"packed"`` uses the packed value itself as the id (stable, large).

    Alpha channels are ignored.

    Raises:
        DataLayoutError: the file does not exist.
        FileFormatError: the file is not a readable image, or is colour-coded and ``rgb="error"``.
    """
    from PIL import Image, UnidentifiedImageError

    p = _require_file(path, "a label map PNG")
    if rgb not in ("error", "ids", "palette", "packed"):
        raise ValueError(f"rgb must be 'error', 'ids', 'palette' or 'packed', got {rgb!r}")
    try:
        with Image.open(p) as im:
            im.load()
            mode = im.mode
            if mode in ("P", "PA"):
                arr = np.asarray(im if mode == "P" else im.getchannel(0))
            elif mode in ("L", "LA"):
                arr = np.asarray(im.getchannel(0))
            elif mode in ("1", "I", "I;16", "I;16B", "I;16L", "I;16N"):
                arr = np.asarray(im)
            elif mode in ("RGB", "RGBA"):
                arr = np.asarray(im)[:, :, :3]
            else:
                raise FileFormatError(
                    f"{p}: label maps must be palette, greyscale or RGB PNGs, got PIL mode {mode!r}"
                )
    except (UnidentifiedImageError, OSError, ValueError) as e:
        if isinstance(e, FileFormatError):
            raise
        raise FileFormatError(
            f"cannot read {p} as a label map (expected a palette or greyscale PNG): {e}"
        ) from None
    if arr.ndim == 3:
        arr = _rgb_to_ids(arr, p, rgb)
    return arr.astype(np.int64)


def _rgb_to_ids(arr: np.ndarray, p: Path, rgb: RgbMode) -> np.ndarray:
    r, g, b = (arr[:, :, i] for i in range(3))
    if np.array_equal(r, g) and np.array_equal(g, b):
        return r
    packed = (r.astype(np.int64) << 16) | (g.astype(np.int64) << 8) | b.astype(np.int64)
    if rgb == "error":
        n = len(np.unique(packed))
        raise FileFormatError(
            f"{p} is a colour-coded RGB mask ({n} distinct colours), expected a palette or greyscale "
            "label map; pass rgb='ids' (number the colours, black = 0), rgb='palette' (DAVIS palette "
            "index) or rgb='packed' to read it anyway"
        )
    if rgb == "packed":
        return packed
    if rgb == "palette":
        pal = davis_palette().astype(np.int64)
        pal_packed = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
        lookup = {int(v): i for i, v in enumerate(pal_packed)}
        colours, inverse = np.unique(packed, return_inverse=True)
        missing = [int(c) for c in colours if int(c) not in lookup]
        if missing:
            c = missing[0]
            raise FileFormatError(
                f"{p}: colour ({c >> 16}, {(c >> 8) & 255}, {c & 255}) is not in the DAVIS palette; "
                "use rgb='ids' for arbitrary colours"
            )
        ids = np.array([lookup[int(c)] for c in colours], dtype=np.int64)
        return ids[inverse].reshape(packed.shape)
    colours, inverse = np.unique(packed, return_inverse=True)  # sorted, so black (0) comes first
    ids = np.arange(len(colours), dtype=np.int64) + (0 if colours[0] == 0 else 1)
    return ids[inverse].reshape(packed.shape)


def write_label_map(path: PathLike, labels: Any, palette: bool | None = None) -> None:
    """Write a label map as PNG, atomically; :func:`read_label_map` returns exactly ``labels``.

    Args:
        path: target ``.png`` file.
        labels: non-negative integer ``(H, W)`` ids (bool and integral floats accepted).
        palette: ``None`` (default): an 8-bit palette PNG with :func:`davis_palette` when every id is
            below 256, else a 16-bit greyscale PNG. ``True``: palette PNG (ids must be < 256).
            ``False``: greyscale, 8-bit when ids < 256 else 16-bit.

    Raises:
        ShapeError: not ``(H, W)``, negative, non-integer or ids >= 65536 (or >= 256 with palette=True).
        FileFormatError: the extension is not ``.png`` (lossy formats would corrupt ids).
    """
    from PIL import Image

    p = Path(path)
    if p.suffix.lower() != ".png":
        raise FileFormatError(f"label maps are written as PNG, got {p}; use a .png extension")
    lab = np.asarray(labels)
    check_shape(lab, ["H", "W"], "labels")
    lab = as_label_batch(lab, "labels")[0]
    top = int(lab.max()) if lab.size else 0
    if top >= 65536:
        raise ShapeError(f"label ids must be < 65536 to fit a 16-bit PNG, got max id {top}; relabel first")
    if palette and top >= 256:
        raise ShapeError(f"a palette PNG holds ids < 256, got max id {top}; pass palette=None or False")
    if top < 256:
        im = Image.fromarray(lab.astype(np.uint8))
        if palette is None or palette:
            im.putpalette(davis_palette().tobytes())
    else:
        im = Image.fromarray(lab.astype(np.uint16))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    with atomic_write(p) as f:
        f.write(buf.getvalue())


def read_binary_mask(path: PathLike, threshold: float | None = None) -> np.ndarray:
    """Read a foreground mask as int64 ``(H, W)`` with values 0 and 1.

    Args:
        path: any image :func:`read_label_map` reads, or any image at all when ``threshold`` is set.
        threshold: ``None`` (default): every nonzero value (palette index, grey level, any colour
            channel) is foreground. A float in [0, 1): the image is read as greyscale intensity in
            [0, 1] and values above ``threshold`` are foreground (for masks stored as lossy JPEG).
            Palette images always use "index nonzero", whatever the threshold.
    """
    if threshold is None:
        lab = read_label_map(path, rgb="packed")
        return (lab != 0).astype(np.int64)
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    if _is_palette_png(path):  # palette colours say nothing about foreground; indices do
        return (read_label_map(path) != 0).astype(np.int64)
    img = read_image(path)
    return (img.max(axis=0) > threshold).astype(np.int64)


def _is_palette_png(path: PathLike) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(_require_file(path, "a mask image")) as im:
            return im.mode in ("P", "PA")
    except (UnidentifiedImageError, OSError):
        return False


# --------------------------------------------------------------------------------------------------------
# Soft masks
# --------------------------------------------------------------------------------------------------------


def _check_probs(a: np.ndarray, where: str, normalised: bool, atol: float) -> np.ndarray:
    check_shape(a, ["K", "H", "W"], where)
    if a.dtype.kind != "f":
        raise ShapeError(f"{where} must be float probabilities, got dtype {a.dtype}")
    if a.shape[0] < 1:
        raise ShapeError(f"{where} must have at least one channel K, got shape {a.shape}")
    a32 = a.astype(np.float32)
    if not np.all(np.isfinite(a32)):
        raise ShapeError(f"{where} holds NaN or infinite values")
    lo, hi = (float(a32.min()), float(a32.max())) if a32.size else (0.0, 0.0)
    if lo < -atol or hi > 1 + atol:
        raise ShapeError(f"{where} must be in [0, 1], got range [{lo:.4g}, {hi:.4g}]; apply a softmax first")
    if normalised and a32.size:
        dev = float(np.abs(a32.sum(axis=0) - 1).max())
        if dev > atol * max(1, a32.shape[0] / 4):
            raise ShapeError(
                f"{where} must sum to 1 over K (softmax over masks), but a pixel's sum is off by {dev:.3g}; "
                "normalise over axis 0 or pass normalised=False for independent per-mask probabilities"
            )
    return np.clip(a32, 0.0, 1.0)


def write_soft_mask(path: PathLike, probs: Any, *, normalised: bool = True) -> None:
    """Write soft masks ``(K, H, W)`` as a compressed ``.npz`` holding float16 ``probs``, atomically.

    Args:
        path: target ``.npz`` file.
        probs: float probabilities in [0, 1], shape ``(K, H, W)``.
        normalised: require that they sum to 1 over K (softmax masks); False for independent maps.
    """
    p = Path(path)
    if p.suffix.lower() != ".npz":
        raise FileFormatError(f"soft masks are written as .npz, got {p}; use a .npz extension")
    a = _check_probs(np.asarray(probs), "soft mask probs", normalised, atol=1e-3)
    with atomic_write(p) as f:
        np.savez_compressed(f, probs=a.astype(np.float16))


def read_soft_mask(path: PathLike, *, normalised: bool = True) -> np.ndarray:
    """Read soft masks written by :func:`write_soft_mask` as float32 ``(K, H, W)``.

    Checks that the values are finite, in [0, 1] and (unless ``normalised=False``) sum to 1 over K
    within float16 precision.

    Raises:
        DataLayoutError: the file does not exist.
        FileFormatError: not an ``.npz`` with a ``probs`` array.
        ShapeError: wrong shape or invalid probabilities.
    """
    p = _require_file(path, "a soft-mask .npz file with a (K, H, W) array 'probs'")
    try:
        with np.load(p, allow_pickle=False) as z:
            if "probs" not in z.files:
                raise FileFormatError(
                    f"{p} has arrays {z.files}, expected one named 'probs' of shape (K, H, W)"
                )
            a = z["probs"]
    except (OSError, ValueError) as e:
        if isinstance(e, FileFormatError):
            raise
        raise FileFormatError(f"cannot read {p} as a soft-mask .npz (key 'probs', (K, H, W)): {e}") from None
    return _check_probs(a, f"soft mask {p}", normalised, atol=1e-2)


# --------------------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------------------


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    if isinstance(o, set | frozenset):
        return sorted(o)
    raise TypeError(f"cannot write an object of type {type(o).__name__} to JSON")


def write_json(path: PathLike, obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as UTF-8 JSON atomically; numpy scalars/arrays, paths and sets are converted.

    Non-finite floats are written as ``NaN``/``Infinity`` (Python's JSON dialect) so that undefined
    metrics survive a round trip.
    """
    text = json.dumps(obj, indent=indent, default=_json_default, ensure_ascii=False)
    with atomic_write(path, "w") as f:
        f.write(text + "\n")


def read_json(path: PathLike) -> Any:
    """Read a JSON file.

    Raises:
        DataLayoutError: the file does not exist.
        FileFormatError: it is not valid JSON (the message gives line and column).
    """
    p = _require_file(path, "a JSON file")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FileFormatError(f"{p} is not valid JSON: {e}") from None
