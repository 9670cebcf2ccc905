"""Benchmark of the ClevrTex generator: images per second, time per stage, peak memory, and quality.

Renders the same ``--num`` scenes (variant ``full``, all passes written) at each sample count with and
without OpenImageDenoise, each setting in its own process (so peak memory is per setting), then scores
every setting's images against a high-sample reference render of the same scenes (PSNR in dB) and
prints one JSON object. The target of the issue is printed beside the measured rate as a ratio.

Usage:
    .venv/bin/python benchmarks/synth.py --num 6 --size 128 --samples 8 32 64 --reference 512
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_IMAGES_PER_S_AT_32 = 0.5


def run_one(out: Path, num: int, size: int, samples: int, denoise: bool, shadow_samples: int) -> dict:
    from spelke.synth.generate import GenerateConfig, generate_images

    cfg = GenerateConfig(
        variant="full",
        num=num,
        size=(size, size),
        samples=samples,
        denoise=denoise,
        shadow_samples=shadow_samples,
    )
    t = time.perf_counter()
    report = generate_images(cfg, out, (0, 1))
    seconds = time.perf_counter() - t
    n = len(report.rendered)
    return {
        "samples": samples,
        "denoise": denoise,
        "images": n,
        "seconds": seconds,
        "images_per_s": n / seconds,
        "resampled_scenes": report.resampled,
        "stage_seconds_per_image": {k: v / n for k, v in sorted(report.timings.items())},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def compare(out: Path, ref: Path, num: int) -> float | None:
    """Mean PSNR of the images of ``out`` against ``ref`` over scenes that are the same in both."""
    from spelke.data.io import read_json
    from spelke.synth.generate import sample_paths

    vals = []
    for i in range(num):
        a, b = sample_paths(out, "full", i), sample_paths(ref, "full", i)
        if read_json(a["json"])["objects"] != read_json(b["json"])["objects"]:
            continue  # a different attempt was accepted (edge pixels decide visibility): not comparable
        from PIL import Image

        vals.append(psnr(np.asarray(Image.open(a["image"])), np.asarray(Image.open(b["image"]))))
    return float(np.mean(vals)) if vals else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--num", type=int, default=6)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--samples", type=int, nargs="+", default=[8, 32, 64])
    ap.add_argument("--reference", type=int, default=512, help="samples of the quality reference")
    ap.add_argument("--shadow-samples", type=int, default=8)
    ap.add_argument("--one", nargs=3, metavar=("OUT", "SAMPLES", "DENOISE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        out, samples, denoise = Path(args.one[0]), int(args.one[1]), args.one[2] == "1"
        # To a file, not stdout: Blender prints to stdout as the process exits.
        result = run_one(out, args.num, args.size, samples, denoise, args.shadow_samples)
        (out / "bench.json").write_text(json.dumps(result))
        return

    root = Path(tempfile.mkdtemp(prefix="spelke-bench-synth-"))

    def spawn(name: str, samples: int, denoise: bool) -> dict:
        cmd = [sys.executable, __file__, "--num", str(args.num), "--size", str(args.size)]
        cmd += ["--shadow-samples", str(args.shadow_samples), "--one", str(root / name), str(samples)]
        cmd += ["1" if denoise else "0"]
        subprocess.run(cmd, capture_output=True, text=True, check=True)
        return json.loads((root / name / "bench.json").read_text())

    ref = spawn("reference", args.reference, False)
    rows = []
    for s in args.samples:
        for dn in (False, True):
            name = f"s{s}{'-dn' if dn else ''}"
            row = spawn(name, s, dn)
            row["psnr_vs_reference_db"] = compare(root / name, root / "reference", args.num)
            if s == 32 and not dn:
                row["target_images_per_s"] = TARGET_IMAGES_PER_S_AT_32
                row["ratio_to_target"] = row["images_per_s"] / TARGET_IMAGES_PER_S_AT_32
            rows.append(row)
    print(
        json.dumps(
            {
                "benchmark": "synth",
                "size": [args.size, args.size],
                "num": args.num,
                "reference": {"samples": args.reference, "images_per_s": ref["images_per_s"]},
                "settings": rows,
                "output": str(root),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
