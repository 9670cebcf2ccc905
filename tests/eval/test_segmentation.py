"""Segmentation metrics against scikit-learn, brute-force matchings, hand-worked numbers and properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import adjusted_rand_score

from spelke.errors import ConfigError, ShapeError
from spelke.eval.segmentation import (
    METRIC_NAMES,
    ari,
    ari_video,
    dice,
    dice_fg,
    fg_ari,
    fg_ari_video,
    match_segments,
    mbo,
    miou,
    miou_fg,
    miou_gt,
    msc,
    segmentation_scores,
)
from spelke.eval.segmentation_accumulator import SegmentationAccumulator

# ---------------------------------------------------------------------------------------------------
# Independent references: masks and IoUs from boolean arrays, matchings by enumerating all injections.


def masks(x: np.ndarray) -> dict[int, np.ndarray]:
    return {int(v): x == v for v in np.unique(x)}


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / (a | b).sum()


def mask_dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def all_matchings(ts: list[int], ps: list[int]):
    """Every maximal one-to-one matching between true ids ``ts`` and predicted ids ``ps``, as pair lists."""
    if len(ts) <= len(ps):
        for perm in itertools.permutations(ps, len(ts)):
            yield list(zip(ts, perm, strict=True))
    else:
        for perm in itertools.permutations(ts, len(ps)):
            yield list(zip(perm, ps, strict=True))


def brute(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """All metrics of ONE image by enumeration (no contingency tables, no SciPy)."""
    P, T = masks(pred), masks(true)
    ps, ts = sorted(P), sorted(T)
    fg = [t for t in ts if t != 0]
    has_bg = 0 in T
    iou = {(t, p): mask_iou(T[t], P[p]) for t in ts for p in ps}
    dic = {(t, p): mask_dice(T[t], P[p]) for t in ts for p in ps}
    n_pairs = max(len(ps), len(ts))
    matchings = list(all_matchings(ts, ps))
    sums = [sum(iou[m] for m in ms) for ms in matchings]
    best = max(sums)
    optimal = [ms for ms, s in zip(matchings, sums, strict=True) if s >= best - 1e-12]
    best_fg = max(sum(iou[(t, p)] for t, p in ms if t != 0) for ms in optimal)
    # Tie-breaking among IoU-optimal matchings: most foreground IoU, then most Dice.
    fg_of = [sum(iou[(t, p)] for t, p in ms if t != 0) for ms in optimal]
    preferred = [ms for ms, f in zip(optimal, fg_of, strict=True) if f >= max(fg_of) - 1e-12]
    tb = max(preferred, key=lambda ms: sum(dic[m] for m in ms))
    # Dice of the IoU-optimal matchings (a set when IoU ties leave a choice)
    dice_sets = {round(sum(dic[m] for m in ms), 12) for ms in optimal}
    dice_fg_sets = {round(sum(dic[(t, p)] for t, p in ms if t != 0), 12) for ms in optimal}
    fg_matchings = list(all_matchings(fg, ps)) if fg else []
    best_gt_fg = max(sum(iou[m] for m in ms) for ms in fg_matchings) if fg else np.nan
    best_iou = {t: max(iou[(t, p)] for p in ps) for t in ts}
    area = {t: T[t].sum() for t in ts}
    nan = float("nan")
    out = {
        "miou": best / n_pairs,
        "miou_gt": best / len(ts),
        "miou_gt_nobg": best_gt_fg / len(fg) if fg else nan,
        "mbo": np.mean([best_iou[t] for t in fg]) if fg else nan,
        "mbo_bg": np.mean([best_iou[t] for t in ts]),
        "msc": sum(area[t] * best_iou[t] for t in ts) / sum(area.values()),
        "msc_nobg": sum(area[t] * best_iou[t] for t in fg) / sum(area[t] for t in fg) if fg else nan,
        "dice_match_dice": max(sum(dic[m] for m in ms) for ms in matchings) / n_pairs,
        "dice_set": {d / n_pairs for d in dice_sets},
        "best_fg_sum": best_fg,
        "fg_sums": {round(sum(iou[(t, p)] for t, p in ms if t != 0), 12) for ms in optimal},
        "dice_fg_set": dice_fg_sets,
        "miou_fg_tb": sum(iou[(t, p)] for t, p in tb if t != 0),
        "dice_tb": sum(dic[m] for m in tb) / n_pairs,
        "dice_fg_tb": sum(dic[(t, p)] for t, p in tb if t != 0),
        "fg_den": n_pairs - has_bg,
        "n_fg": len(fg),
    }
    return out


def sk_ari(pred: np.ndarray, true: np.ndarray) -> float:
    return adjusted_rand_score(true.ravel(), pred.ravel())


def sk_fg_ari(pred: np.ndarray, true: np.ndarray) -> float:
    fg = true.ravel() != 0
    return adjusted_rand_score(true.ravel()[fg], pred.ravel()[fg]) if fg.any() else float("nan")


def random_case(rng: np.random.Generator, h: int = 6, w: int = 5, kp: int = 4, kt: int = 4):
    pred = rng.integers(0, rng.integers(1, kp + 1), (h, w))
    true = rng.integers(0, rng.integers(1, kt + 1), (h, w))
    return pred, true


# ---------------------------------------------------------------------------------------------------
# ARI / FG-ARI equal scikit-learn


def test_ari_equals_sklearn_on_many_random_cases(rng):
    cases = []
    for k in range(300):
        h, w = rng.integers(1, 9, 2)
        kp, kt = rng.integers(1, 7, 2)
        cases.append((rng.integers(0, kp, (h, w)), rng.integers(0, kt, (h, w))))
    for pred, true in cases:
        assert ari(pred, true)[0] == pytest.approx(sk_ari(pred, true), abs=1e-12)
        got = fg_ari(pred, true)[0]
        want = sk_fg_ari(pred, true)
        if np.isnan(want):
            assert np.isnan(got)
        else:
            assert got == pytest.approx(want, abs=1e-12)


def test_ari_batch_equals_per_image_sklearn_on_larger_maps(rng):
    true = rng.integers(0, 11, (6, 64, 64))
    pred = np.where(rng.random((6, 64, 64)) < 0.8, true, rng.integers(0, 11, (6, 64, 64)))
    pred = (pred * 7 + 3) % 17  # other ids
    want = [sk_ari(p, t) for p, t in zip(pred, true, strict=True)]
    want_fg = [sk_fg_ari(p, t) for p, t in zip(pred, true, strict=True)]
    np.testing.assert_allclose(ari(pred, true), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fg_ari(pred, true), want_fg, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("pred", "true"),
    [
        ([[0, 0, 0, 0]], [[1, 1, 1, 1]]),  # single cluster both sides -> sklearn 1.0
        ([[0, 1, 2, 3]], [[0, 1, 2, 3]]),  # all singletons both sides -> 1.0
        ([[0, 1, 2, 3]], [[0, 0, 0, 0]]),  # singletons vs one cluster -> 0.0
        ([[5]], [[2]]),  # one pixel -> 1.0
        ([[0, 1, 0, 1]], [[0, 0, 1, 1]]),  # -0.5
        ([[0, 0, 1, 1, 1]], [[0, 0, 0, 1, 1]]),
    ],
)
def test_ari_sklearn_special_cases(pred, true):
    pred, true = np.array(pred), np.array(true)
    assert ari(pred, true)[0] == pytest.approx(sk_ari(pred, true), abs=1e-15)


def test_ari_hand_worked():
    # true {0,1},{2,3}; pred {0,2},{1,3}: pairs together in both: 0; ordered tp = 0, fp = 4, fn = 4,
    # tn = 16 - 4 - 4 - 4 = 4 -> 2 (0*4 - 4*4) / ((0+4)(4+4) + (0+4)(4+4)) = -32 / 64 = -0.5
    assert ari(np.array([[0, 1, 0, 1]]), np.array([[0, 0, 1, 1]]))[0] == -0.5


def test_fg_ari_nan_without_foreground_and_sklearn_on_single_fg_pixel():
    assert np.isnan(fg_ari(np.array([[0, 1, 2]]), np.array([[0, 0, 0]]))[0])
    # one foreground pixel: sklearn gives 1.0
    assert fg_ari(np.array([[0, 1, 2]]), np.array([[0, 0, 4]]))[0] == 1.0


def test_ari_valid_mask_equals_sklearn_on_kept_pixels(rng):
    pred = rng.integers(0, 4, (3, 9, 9))
    true = rng.integers(0, 4, (3, 9, 9))
    valid = rng.random((3, 9, 9)) > 0.3
    want = [adjusted_rand_score(t[v], p[v]) for p, t, v in zip(pred, true, valid, strict=True)]
    np.testing.assert_allclose(ari(pred, true, valid=valid), want, rtol=0, atol=1e-12)
    assert np.isnan(ari(pred[:1], true[:1], valid=np.zeros((1, 9, 9), bool))[0])


def test_video_ari_scores_all_frames_jointly(rng):
    true = rng.integers(0, 4, (2, 3, 5, 6))
    pred = np.where(rng.random(true.shape) < 0.7, true, rng.integers(0, 4, true.shape))
    want = [adjusted_rand_score(t.ravel(), p.ravel()) for p, t in zip(pred, true, strict=True)]
    want_fg = [
        adjusted_rand_score(t.ravel()[t.ravel() > 0], p.ravel()[t.ravel() > 0])
        for p, t in zip(pred, true, strict=True)
    ]
    np.testing.assert_allclose(ari_video(pred, true), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fg_ari_video(pred, true), want_fg, rtol=0, atol=1e-12)
    assert ari_video(pred[0], true[0]).shape == (1,)
    # joint scoring differs from the mean of per-frame ARIs in general
    assert not np.isclose(ari_video(pred, true)[0], ari(pred[0], true[0]).mean())


# ---------------------------------------------------------------------------------------------------
# Matching-based metrics equal brute force


def test_matching_metrics_equal_brute_force(rng):
    for _ in range(120):
        pred, true = random_case(rng)
        b = brute(pred, true)
        assert miou(pred, true)[0] == pytest.approx(b["miou"], abs=1e-12)
        assert miou_gt(pred, true)[0] == pytest.approx(b["miou_gt"], abs=1e-12)
        assert mbo(pred, true, background=True)[0] == pytest.approx(b["mbo_bg"], abs=1e-12)
        assert msc(pred, true)[0] == pytest.approx(b["msc"], abs=1e-12)
        assert dice(pred, true, match_on="dice")[0] == pytest.approx(b["dice_match_dice"], abs=1e-12)
        # Dice of an IoU-optimal matching: one of the optimal matchings' values
        d = dice(pred, true)[0]
        assert min(abs(d - v) for v in b["dice_set"]) < 1e-12
        for name, fn in (
            ("miou_gt_nobg", lambda p, t: miou_gt(p, t, background=False)),
            ("mbo", mbo),
            ("msc_nobg", lambda p, t: msc(p, t, background=False)),
        ):
            got, want = fn(pred, true)[0], b[name]
            assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want, abs=1e-12), name
        # miou_fg / dice_fg: the foreground part of an optimal (background-included) matching
        mf, df = miou_fg(pred, true)[0], dice_fg(pred, true)[0]
        if b["n_fg"] == 0:
            assert np.isnan(mf) and np.isnan(df)
        else:
            assert min(abs(mf * b["fg_den"] - v) for v in b["fg_sums"]) < 1e-12
            assert min(abs(df * b["fg_den"] - v) for v in b["dice_fg_set"]) < 1e-12
            # ... namely the documented tie-break: most foreground IoU, then most Dice
            assert mf * b["fg_den"] == pytest.approx(b["miou_fg_tb"], abs=1e-9)
            assert df * b["fg_den"] == pytest.approx(b["dice_fg_tb"], abs=1e-9)
        assert d == pytest.approx(b["dice_tb"], abs=1e-9)


def official_padded_values(pred: np.ndarray, true: np.ndarray, n_slots: int) -> set[float]:
    """ClevrTex evaluator's mIoU for every optimal assignment of the zero-padded K x K slot problem.

    Slots: true slot i = true label i (0..max), predicted slots = the model's ``n_slots`` (labels present
    plus empty slots), both padded with empty slots to K = max(#true slots, #pred slots).
    mIoU = Σ matched IoU / #{slot pairs with a non-empty side}.
    """
    tl = list(range(int(true.max()) + 1))
    pl = sorted(set(pred.ravel().tolist()))
    k = max(len(tl), len(pl), n_slots)
    tm = [true == t for t in tl] + [np.zeros(true.shape, bool)] * (k - len(tl))
    pm = [pred == p for p in pl] + [np.zeros(pred.shape, bool)] * (k - len(pl))

    def iou(a, b):
        u = (a | b).sum()
        return (a & b).sum() / u if u else 0.0

    m = np.array([[iou(tm[i], pm[j]) for j in range(k)] for i in range(k)])
    perms = list(itertools.permutations(range(k)))
    sums = [sum(m[i, s[i]] for i in range(k)) for s in perms]
    best = max(sums)
    out = set()
    for s, v in zip(perms, sums, strict=True):
        if v >= best - 1e-12:
            pairs = sum(1 for i in range(k) if tm[i].any() or pm[s[i]].any())
            out.add(round(v / pairs, 12))
    return out


def test_miou_equals_official_padded_definition(rng):
    # Our max(#pred, #true) normaliser equals the evaluator's "#pairs with a non-empty side" for the
    # optimal assignments that pair as many non-empty segments as possible; any other optimal assignment
    # only swaps zero-IoU partners for empty slots, which can only raise the pair count. So ours is the
    # largest of the official values, and equals all of them when no zero-IoU tie exists.
    for _ in range(60):
        pred, true = random_case(rng, h=4, w=4, kp=5, kt=4)
        vals = official_padded_values(pred, true, 6)
        ours = round(float(miou(pred, true)[0]), 12)
        assert ours == max(vals)
    # A hand-made tie: true A | B | C, pred P = A∪B, Q, R split C. B can take R (IoU 0) or an empty slot.
    true = np.array([[0, 0, 1, 1, 2, 2]])
    pred = np.array([[5, 5, 5, 5, 6, 7]])
    vals = official_padded_values(pred, true, 4)  # a model with 4 slots, one of them empty
    # P-A: 2/4, Q-C: 1/2 -> 1.0; pairs 3 (B-R paired) or 4 (B and R each with an empty slot)
    assert vals == {round(1.0 / 3, 12), 0.25}
    assert miou(pred, true)[0] == pytest.approx(1.0 / 3, abs=1e-15)


def test_tie_between_background_and_object_is_broken_towards_the_object():
    # pred 0 covers one background pixel and the one pixel of object 3: IoU 1/2 with each. Both
    # matchings reach the same total IoU; the foreground one is taken, whatever the label order.
    true = np.array([[3, 5, 0] + [5] * 9])
    for pred in (np.array([[0, 1, 0] + [4] * 9]), np.array([[9, 1, 9] + [4] * 9])):
        m = match_segments(pred, true)
        assert m.matched_iou[3] == 0.5 and m.matched_iou[0] == 0.0
        # pairs: 4-5 (9/10), 0-3 (1/2), 1 unmatched (0 overlap left); n_pairs = max(3, 3) = 3, fg = 2
        assert miou_fg(pred, true)[0] == pytest.approx((0.9 + 0.5) / 2)
        assert miou(pred, true)[0] == pytest.approx((0.9 + 0.5) / 3)


def test_hand_worked_small_example():
    # true: background {0,1}, object 1 {2,3}; pred: {0,1}, {2}, {3} (over-segmented object)
    pred = np.array([[0, 0, 1, 2]])
    true = np.array([[0, 0, 1, 1]])
    # IoUs: bg-p0 1; obj-p1 1/2; obj-p2 1/2. Hungarian sum 1.5; #pred 3 > #true 2.
    assert miou(pred, true)[0] == pytest.approx(1.5 / 3)
    assert miou_fg(pred, true)[0] == pytest.approx(0.5 / (3 - 1))
    assert miou_gt(pred, true)[0] == pytest.approx(1.5 / 2)
    assert miou_gt(pred, true, background=False)[0] == pytest.approx(0.5)
    assert mbo(pred, true)[0] == pytest.approx(0.5)
    # mSC: (2 * 1 + 2 * 1/2) / 4 = 0.75
    assert msc(pred, true)[0] == pytest.approx(0.75)
    # Dice: bg 1, obj 2*1/(1+2) = 2/3 -> (5/3) / 3
    assert dice(pred, true)[0] == pytest.approx(5 / 9)
    assert dice_fg(pred, true)[0] == pytest.approx((2 / 3) / 2)
    # under-segmentation: pred merges object 1 and 2 -> fewer predicted than true segments
    true = np.array([[0, 0, 1, 2]])
    pred = np.array([[4, 4, 9, 9]])
    # IoUs: bg-4 1; obj1-9 1/2; obj2-9 1/2; one object unmatched. sum 1.5 / max(2, 3)
    assert miou(pred, true)[0] == pytest.approx(0.5)
    assert miou_fg(pred, true)[0] == pytest.approx(0.5 / 2)
    assert miou_gt(pred, true)[0] == pytest.approx(0.5)
    assert mbo(pred, true)[0] == pytest.approx(0.5)  # both objects' best is 9 (1/2 each)
    assert ari(pred, true)[0] == pytest.approx(sk_ari(pred, true))
    # fg pixels: true 1, 2 vs pred 9, 9 -> sklearn 0.0
    assert fg_ari(pred, true)[0] == 0.0


def test_miou_gt_without_background_rematches():
    # pred segment 7 covers the background AND most of object 1. With the background included it is
    # matched to the background; without it, it is free to match object 1.
    true = np.array([[0, 0, 0, 1, 1, 1]])
    pred = np.array([[7, 7, 7, 7, 7, 3]])
    # IoU(7, bg) = 3/5, IoU(7, obj) = 2/6, IoU(3, obj) = 1/3; with bg: 7-bg, 3-obj -> obj gets 1/3
    m = match_segments(pred, true)
    assert m.true_to_pred == {0: 7, 1: 3}
    assert miou_gt(pred, true, background=False)[0] == pytest.approx(1 / 3)
    pred2 = np.array([[7, 7, 7, 7, 3, 3]])  # IoU(7, obj) = 1/6 < IoU(3, obj) = 2/3 either way
    assert miou_gt(pred2, true, background=False)[0] == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------------------------------
# Edge cases


ALL = {
    "ari": ari,
    "fg_ari": fg_ari,
    "miou": miou,
    "miou_fg": miou_fg,
    "miou_gt": miou_gt,
    "miou_gt_nobg": lambda p, t: miou_gt(p, t, background=False),
    "mbo": mbo,
    "mbo_bg": lambda p, t: mbo(p, t, background=True),
    "msc": msc,
    "msc_nobg": lambda p, t: msc(p, t, background=False),
    "dice": dice,
    "dice_fg": dice_fg,
    "dice_match_dice": lambda p, t: dice(p, t, match_on="dice"),
}
FG_ONLY = {"fg_ari", "miou_fg", "miou_gt_nobg", "mbo", "msc_nobg", "dice_fg"}


def test_perfect_prediction_up_to_permutation_scores_one(rng):
    true = rng.integers(0, 5, (3, 8, 8))
    perm = np.array([9, 2, 0, 4, 7])  # pred ids: bg becomes 9, object 2 becomes 0, ...
    pred = perm[true]
    for name, fn in ALL.items():
        np.testing.assert_allclose(fn(pred, true), 1.0, rtol=0, atol=1e-15, err_msg=name)


def test_all_background_image():
    true = np.zeros((1, 4, 4), int)
    one = np.full((1, 4, 4), 3)
    two = np.repeat(np.array([[1, 1, 2, 2]]), 4, axis=0)[None]
    for name, fn in ALL.items():
        got = fn(one, true)[0]
        assert np.isnan(got) if name in FG_ONLY else got == 1.0, name
    # two predicted segments on an empty scene: matched half covers half the background
    assert miou(two, true)[0] == pytest.approx(0.5 / 2)
    assert miou_gt(two, true)[0] == pytest.approx(0.5)
    assert ari(two, true)[0] == 0.0  # sklearn: one true cluster vs two -> 0
    assert np.isnan(miou_fg(two, true)[0]) and np.isnan(fg_ari(two, true)[0])


def test_single_object_covering_the_image():
    # No background pixel: the object is the only segment; the fg metrics are defined and 1.0
    # (the ClevrTex evaluator divides by #pairs - 1 = 0 here).
    true = np.full((1, 3, 3), 4)
    pred = np.full((1, 3, 3), 0)
    for name, fn in ALL.items():
        assert fn(pred, true)[0] == 1.0, name
    # over-segmented: 2 predicted segments, 1 true -> unmatched prediction counts 0
    pred = np.array([[[0, 0, 0], [0, 0, 0], [1, 1, 1]]])
    assert miou(pred, true)[0] == pytest.approx((6 / 9) / 2)
    assert miou_fg(pred, true)[0] == pytest.approx((6 / 9) / 2)
    assert miou_gt(pred, true)[0] == pytest.approx(6 / 9)


def test_more_predicted_than_true_and_reverse_are_penalised_differently():
    true = np.array([[0, 0, 0, 0, 1, 1, 1, 1]])
    split = np.array([[0, 0, 0, 0, 1, 1, 2, 2]])  # object split in two
    assert miou(split, true)[0] == pytest.approx((1 + 0.5) / 3)
    assert miou_gt(split, true)[0] == pytest.approx((1 + 0.5) / 2)
    merged = np.array([[0, 0, 0, 0, 0, 0, 0, 0]])  # everything one segment
    # pred covers all: IoU with bg 4/8, with obj 4/8; one of them matched -> 0.5 / 2
    assert miou(merged, true)[0] == pytest.approx(0.25)
    assert miou_gt(merged, true)[0] == pytest.approx(0.25)
    assert mbo(merged, true)[0] == pytest.approx(0.5)


def test_empty_image_gives_nan():
    for name, fn in ALL.items():
        assert np.isnan(fn(np.zeros((1, 0, 3), int), np.zeros((1, 0, 3), int))[0]), name


def test_input_types_and_errors(rng):
    true = rng.integers(0, 3, (5, 5))
    pred = rng.integers(0, 3, (5, 5))
    base = miou(pred, true)
    assert miou(pred.astype(np.uint8), true.astype(np.float32)) == pytest.approx(base)
    assert miou(pred > 0, true)[0] == pytest.approx(miou((pred > 0).astype(int), true)[0])
    assert miou(pred.tolist(), true.tolist()) == pytest.approx(base)
    with pytest.raises(ShapeError):
        miou(pred, true[:4])
    with pytest.raises(ShapeError):
        miou(pred - 1, true)
    with pytest.raises(ConfigError):
        dice(pred, true, match_on="f1")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        segmentation_scores(pred, true, ["nope"])


# ---------------------------------------------------------------------------------------------------
# match_segments


def test_match_segments_agrees_with_miou(rng):
    for _ in range(30):
        pred, true = random_case(rng)
        pred = pred * 3 + 1  # ids unrelated to true ids
        m = match_segments(pred, true)
        assert m.true_ids.tolist() == sorted(set(true.ravel().tolist()))
        assert m.pred_ids.tolist() == sorted(set(pred.ravel().tolist()))
        assert m.iou.shape == (len(m.true_ids), len(m.pred_ids))
        assert m.miou == pytest.approx(miou(pred, true)[0], abs=1e-12)
        matched = [p for p in m.true_to_pred.values() if p is not None]
        assert len(matched) == len(set(matched))  # one-to-one
        for t, p in m.true_to_pred.items():
            want = 0.0 if p is None else mask_iou(true == t, pred == p)
            assert m.matched_iou[t] == pytest.approx(want, abs=1e-12)
            if p is None:
                assert len(matched) == len(m.pred_ids) or m.matched_iou[t] == 0.0


def test_match_segments_unmatched_object_is_none():
    true = np.array([[0, 0, 1, 2]])
    pred = np.array([[4, 4, 9, 9]])
    m = match_segments(pred, true)
    assert m.true_to_pred[0] == 4
    assert sorted([m.true_to_pred[1], m.true_to_pred[2]], key=str) == [9, None]
    with pytest.raises(ConfigError):
        match_segments(np.zeros((2, 2, 2), int), np.zeros((2, 2, 2), int))


# ---------------------------------------------------------------------------------------------------
# Properties


label_maps = arrays(np.int64, (2, 5, 6), elements=st.integers(0, 4))


@settings(max_examples=60, deadline=None)
@given(pred=label_maps, true=label_maps, seed=st.integers(0, 2**31 - 1))
def test_relabelling_pred_or_true_foreground_changes_nothing(pred, true, seed):
    r = np.random.default_rng(seed)
    pred_map = r.permutation(50)[:5] + 0  # injective, arbitrary new ids (0 may move)
    true_map = np.concatenate([[0], r.permutation(np.arange(1, 40))[:4]])  # background stays 0
    for name, fn in ALL.items():
        base = fn(pred, true)
        np.testing.assert_allclose(fn(pred_map[pred], true), base, rtol=0, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(fn(pred, true_map[true]), base, rtol=0, atol=1e-12, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(pred=label_maps, true=label_maps)
def test_batch_equals_per_image_and_bounds(pred, true):
    scores = segmentation_scores(pred, true)
    assert set(scores) == set(METRIC_NAMES)
    for name, v in scores.items():
        per = np.concatenate([segmentation_scores(pred[i], true[i], [name])[name] for i in range(2)])
        np.testing.assert_allclose(v, per, rtol=0, atol=1e-15, err_msg=name)
        ok = v[~np.isnan(v)]
        lo = -1.0 if "ari" in name else 0.0
        assert np.all((ok >= lo - 1e-12) & (ok <= 1 + 1e-12)), name
    # orderings that hold by definition
    assert np.all(scores["miou"] <= scores["miou_gt"] + 1e-12)
    assert np.all(scores["miou_gt"] <= mbo(pred, true, background=True) + 1e-12)


# ---------------------------------------------------------------------------------------------------
# Accumulator


def test_segmentation_accumulator_means_skip_nan(rng):
    batches = [(rng.integers(0, 4, (3, 6, 6)), rng.integers(0, 4, (3, 6, 6))) for _ in range(3)]
    no_fg = (rng.integers(0, 4, (1, 6, 6)), np.zeros((1, 6, 6), int))
    acc = SegmentationAccumulator()
    for p, t in [*batches, no_fg]:
        acc.update(p, t)
    out = acc.compute()
    allp = np.concatenate([b[0] for b in [*batches, no_fg]])
    allt = np.concatenate([b[1] for b in [*batches, no_fg]])
    for name, fn in (("ari", ari), ("fg_ari", fg_ari), ("miou", miou), ("miou_fg", miou_fg), ("mbo", mbo)):
        v = fn(allp, allt)
        assert out[name] == pytest.approx(np.nanmean(v), abs=1e-12), name
        assert out[f"{name}/count"] == int((~np.isnan(v)).sum())
    assert out["fg_ari/undefined"] == 1
    assert out["miou/count"] == 10
    acc.update(*batches[0], group="a")
    assert acc.compute_groups()["a"]["miou"] == pytest.approx(miou(*batches[0]).mean())
    acc.reset()
    assert acc.compute() == {}
    with pytest.raises(ConfigError):
        SegmentationAccumulator(metrics=["miou", "bogus"])
