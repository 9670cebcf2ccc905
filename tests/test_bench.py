"""``spelke bench clevrtex`` end to end on a tiny ClevrTex-layout tree, and its refusals."""

from __future__ import annotations

import csv
import json

import pytest

from spelke.errors import ConfigError, DataLayoutError

pytest.importorskip("lightning")

#: Tiny models at 16 x 16, a few steps (model-scoped overrides: model:key=value).
TINY = [
    "input_size=16x16",
    "num_slots=3",
    "batch_size=2",
    "max_steps=2",
    "sample_every=0",
    "slot-attention:model_options={hidden: 8, slot_dim: 8, mlp_hidden: 16, decoder_upsamples: 2}",
    "genesis-v2:model_options={feat_dim: 8}",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Two variants (full, camo) of 10 random 240x320 images each, in the official layout."""
    from tests.eval.test_protocols import make_clevrtex

    root = tmp_path_factory.mktemp("ctx")
    make_clevrtex(root, 10, "full")
    make_clevrtex(root, 10, "camo")
    return root


def test_bench_end_to_end_writes_the_tables(tree, tmp_path, capsys):
    from spelke.cli import main

    out = tmp_path / "bench"
    args = ["bench", "clevrtex", "--root", str(tree), "--models", "slot-attention,genesis-v2", "--seeds", "0,1",
            "--pictures", "1", "--out", str(out), *TINY]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    log = capsys.readouterr().out
    assert "[1/4] train slot-attention seed 0 on full" in log and "[4/4] train genesis-v2 seed 1" in log
    md = (out / "results.md").read_text()
    # Table 2.3 layout (CLEVRTEX and CAMO present), Table B.1 layout, attributes, compute
    assert "| Model | CLEVRTEX mIoU | CLEVRTEX MSE | CAMO mIoU | CAMO MSE |" in md
    assert "| Model | CLEVRTEX FG-ARI | CLEVRTEX mIoU | CAMO FG-ARI | CAMO mIoU |" in md
    assert "Table 2.4 layout" not in md  # no PLAINBG / VARBG / GRASSBG under the root
    sa = next(line for line in md.splitlines() if line.startswith("| slot-attention | ") and "±" in line)
    assert sa.count("±") == 4  # mean ± std over the two seeds in each cell
    assert "| slot-attention | shape | cube |" in md and "Table 2.2 layout" in md
    # the references that learn nothing fill every column, without MSE
    one = next(line for line in md.splitlines() if line.startswith("| one segment | "))
    assert one.count(" - ") == 2 and "K-means colour+position (k=3)" in md
    with open(out / "per_seed.csv") as f:
        refs = {(r["model"], r["test_variant"]): r for r in csv.DictReader(f) if not r["train_variant"]}
    assert set(refs) == {
        (m, v) for m in ("one segment", "K-means colour+position (k=3)") for v in ("full", "camo")
    }
    assert float(refs["one segment", "full"]["fg_ari"]) == pytest.approx(0.0, abs=1e-6)  # one segment: ARI 0
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "model",
        "train_variant",
        "test_variant",
        "metric",
        "attribute",
        "value",
        "mean",
        "std",
        "n",
    ]
    got = {(r["model"], r["test_variant"], r["metric"]) for r in rows if not r["attribute"]}
    for model in ("slot-attention", "genesis-v2"):
        for v in ("full", "camo"):
            assert {(model, v, m) for m in ("miou", "fg_ari", "mse")} <= got
    miou = [
        r
        for r in rows
        if r["model"] == "slot-attention" and r["test_variant"] == "full" and r["metric"] == "miou"
    ]
    assert int(miou[0]["n"]) == 2 and 0 <= float(miou[0]["mean"]) <= 100
    # the mean is the mean of the per-seed values
    with open(out / "per_seed.csv") as f:
        per_seed = [
            r for r in csv.DictReader(f) if r["model"] == "slot-attention" and r["test_variant"] == "full"
        ]
    assert float(miou[0]["mean"]) == pytest.approx(sum(float(r["miou"]) for r in per_seed) / 2, rel=1e-4)
    with open(out / "compute.csv") as f:
        compute = {r["model"]: r for r in csv.DictReader(f)}
    assert set(compute) == {"slot-attention", "genesis-v2"}
    assert float(compute["genesis-v2"]["infer_ms"]) > 0 and float(compute["genesis-v2"]["peak_mb"]) > 0
    assert int(compute["slot-attention"]["steps"]) == 2
    for p in ("slot-attention-full", "slot-attention-camo", "genesis-v2-full", "genesis-v2-camo"):
        assert (out / "pictures" / f"{p}.png").is_file()
    run = out / "runs" / "slot-attention" / "full-seed0"
    assert (run / "eval" / "camo" / "predictions" / "CLEVRTEX_camo_000000_recon.png").is_file()
    assert json.loads((run / "eval" / "full.json").read_text())["summary"]["images"] == 1

    # a second call resumes: nothing is retrained or re-segmented, the tables are the same
    from spelke.bench import bench_clevrtex

    lines: list[str] = []
    res = bench_clevrtex(
        tree, out, models=["sa"], seeds=[0, 1], pictures=0, overrides=TINY[:-1], log=lines.append
    )
    assert any("0 segmented, 1 reused" in line for line in lines)
    again = next(r for r in res.rows if r["test_variant"] == "full" and r["metric"] == "miou")
    assert again["mean"] == pytest.approx(float(miou[0]["mean"]), rel=1e-4)


def test_bench_refuses_unknown_names_and_sizes(tree, tmp_path):
    from spelke.bench import bench_clevrtex

    with pytest.raises(
        ConfigError,
        match=r"unknown model 'gnm'; ClevrTex zoo models: genesis-v2, emorl, monet, slot-attention, iodine",
    ):
        bench_clevrtex(tree, tmp_path, models=["gnm"])
    with pytest.raises(ConfigError, match=r"unknown ClevrTex variant 'textured'.*full, pbg, plainbg"):
        bench_clevrtex(tree, tmp_path, test_variants=["textured"])
    with pytest.raises(DataLayoutError, match=r"no clevrtex_vbg/ folder.*present: full, camo"):
        bench_clevrtex(tree, tmp_path, train_variant="varbg")
    with pytest.raises(ConfigError, match=r"reads 128x128 images but slot-attention takes 16x16"):
        bench_clevrtex(tree, tmp_path, overrides=["input_size=16x16"], eval_size=128)
    with pytest.raises(ConfigError, match=r"is for monet, which is not benchmarked"):
        bench_clevrtex(tree, tmp_path, overrides=["monet:max_steps=3"])
    with pytest.raises(DataLayoutError, match="no clevrtex_<key>/ folders"):
        bench_clevrtex(tmp_path, tmp_path / "out")
    with pytest.raises(ConfigError, match=r"device must be auto, cpu, cuda or cuda:N.*'gpu'"):
        bench_clevrtex(tree, tmp_path, device="gpu")


def test_cli_bench_reports_bad_names_in_one_line(tree, tmp_path, capsys):
    from spelke.cli import main

    assert main(["bench", "clevrtex", "--root", str(tree), "--models", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and "genesis-v2" in err


def test_bench_several_training_variants_fill_each_column_from_its_own(tree, tmp_path):
    """Table 2.3's rule: a column comes from the models trained on its variant; the transfer table has all."""
    from spelke.bench import bench_clevrtex

    res = bench_clevrtex(
        tree, tmp_path, models=["sa"], train_variant=["camo", "full"], seeds=[0], pictures=1, overrides=TINY[:-1],
        log=None,
    )  # fmt: skip
    md = res.markdown.read_text()
    assert (tmp_path / "runs" / "slot-attention" / "camo-seed0" / "eval" / "full.json").is_file()
    assert (tmp_path / "runs" / "slot-attention" / "full-seed0" / "eval" / "camo.json").is_file()
    with open(tmp_path / "per_seed.csv") as f:
        per = {(r["train_variant"], r["test_variant"]) for r in csv.DictReader(f) if r["train_variant"]}
    assert per == {(t, v) for t in ("camo", "full") for v in ("camo", "full")}
    assert (
        "### Transfer" in md and "| slot-attention | CAMO |" in md and "| slot-attention | CLEVRTEX |" in md
    )
    assert "| slot-attention | CAMO | CPU" in md  # compute rows per training variant
    # one picture per test variant, from the run its column uses
    assert sorted(p.name for p in res.pictures) == ["slot-attention-camo.png", "slot-attention-full.png"]


def test_table_columns_come_from_their_own_training_variant():
    from spelke.bench import _source, _table

    def row(model, train, test, value):
        return {"model": model, "train_variant": train, "test_variant": test, "metric": "miou", "attribute": "",
                "value": "", "mean": value, "std": 0.0, "n": 1}  # fmt: skip

    rows = [row("sa", "clevr", "clevr", 11.0), row("sa", "clevr", "full", 12.0), row("sa", "full", "clevr", 21.0),
            row("sa", "full", "full", 22.0), row("sa", "full", "camo", 23.0), row("sa", "clevr", "camo", 13.0),
            row("ref", "", "clevr", 1.0), row("ref", "", "full", 2.0)]  # fmt: skip
    md = _table("t", rows, ["sa", "ref"], ["clevr", "full", "camo"], [("miou", "mIoU", 1)], ["clevr", "full"])
    assert "| sa | 11.0 | 22.0 | 23.0 |" in md  # CLEVR from CLEVR-trained; CLEVRTEX, CAMO from full-trained
    assert "| ref | 1.0 | 2.0 | - |" in md  # references fill every column they were scored on
    assert _source("camo", ["clevr", "pbg"]) == "clevr"  # no full: the first training variant
    assert _source("pbg", ["full", "pbg"]) == "pbg"


def test_bench_no_train_gathers_finished_runs_and_says_what_it_skipped(tree, tmp_path):
    from spelke.bench import bench_clevrtex

    bench_clevrtex(
        tree, tmp_path, models=["sa"], seeds=[0], pictures=0, baselines=False, overrides=TINY[:-1], log=None
    )
    lines: list[str] = []
    res = bench_clevrtex(
        tree, tmp_path, models=["sa"], seeds=[0, 1], pictures=0, baselines=False, overrides=TINY[:-1],
        train_missing=False, log=lines.append,
    )  # fmt: skip
    assert not (tmp_path / "runs" / "slot-attention" / "full-seed1").exists()  # nothing trained
    assert sum("skipped: not finished" in line for line in lines) == 1
    miou = next(r for r in res.rows if r["test_variant"] == "full" and r["metric"] == "miou")
    assert miou["n"] == 1
    assert "(n=1)" in res.markdown.read_text()  # a cell with fewer seeds than asked for says so
    # how often a run logged sample pictures does not change what it learnt: still gathered
    lines.clear()
    bench_clevrtex(
        tree, tmp_path, models=["sa"], seeds=[0], pictures=0, baselines=False,
        overrides=[*TINY[:-1], "sample_every=7"], train_missing=False, log=lines.append,
    )  # fmt: skip
    assert lines and not any("skipped" in line for line in lines)
    # other settings than the finished run's: skipped too
    lines.clear()
    bench_clevrtex(
        tree, tmp_path, models=["sa"], seeds=[0], pictures=0, baselines=False,
        overrides=[*TINY[:-1], "max_steps=3"], train_missing=False, log=lines.append,
    )  # fmt: skip
    assert sum("skipped: not finished" in line for line in lines) == 1
