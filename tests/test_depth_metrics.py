"""MVSEC depth metrics against values computed by hand on a four-pixel example."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evrt.models.depth_metrics import MetricAccumulator, depth_metrics

GT = np.array([[2.0, 4.0], [np.nan, 25.0]])
PRED = np.array([[1.0, 5.0], [3.0, 20.0]])


def test_metrics_match_hand_computed_values():
    m = depth_metrics(PRED, GT)
    a = m["all"]  # valid pixels: (p, g) = (1, 2), (5, 4), (20, 25); the NaN pixel is ignored
    assert a["pixels"] == 3
    assert a["abs_rel"] == pytest.approx((0.5 + 0.25 + 0.2) / 3)
    assert a["sq_rel"] == pytest.approx((1 / 2 + 1 / 4 + 25 / 25) / 3)
    assert a["rms"] == pytest.approx(3.0)  # sqrt((1 + 1 + 25) / 3)
    assert a["mean_abs"] == pytest.approx(7 / 3)
    d = [math.log(1 / 2), math.log(5 / 4), math.log(20 / 25)]
    assert a["rms_log"] == pytest.approx(math.sqrt(sum(x * x for x in d) / 3))
    assert a["silog"] == pytest.approx(sum(x * x for x in d) / 3 - (sum(d) / 3) ** 2)
    # ratios 2, 1.25, 1.25: none strictly below 1.25; two below 1.5625 and 1.953
    assert (a["delta1"], a["delta2"], a["delta3"]) == (0.0, pytest.approx(2 / 3), pytest.approx(2 / 3))


def test_cutoffs_keep_only_near_ground_truth():
    m = depth_metrics(PRED, GT)
    for cut in ("10m", "20m"):
        assert m[cut]["pixels"] == 2
        assert m[cut]["mean_abs"] == pytest.approx(1.0)
        assert m[cut]["abs_rel"] == pytest.approx(0.375)
        assert m[cut]["rms"] == pytest.approx(1.0)
    assert m["30m"] == m["all"]


def test_perfect_prediction_and_accumulation_weighs_pixels_equally():
    g = np.array([1.5, 3.0, 9.0])
    perfect = depth_metrics(g.copy(), g)["all"]
    assert perfect["abs_rel"] == 0 and perfect["rms"] == 0 and perfect["delta1"] == 1.0
    acc = MetricAccumulator()
    acc.add(PRED[0], GT[0])
    acc.add(PRED[1], GT[1])
    assert acc.result()["all"]["mean_abs"] == pytest.approx(7 / 3)
    assert acc.frames == 2


def test_predictions_are_clipped_and_shapes_checked():
    m = depth_metrics(np.array([0.0, 500.0]), np.array([1.0, 80.0]), min_depth=0.5, max_depth=80.0)
    assert m["all"]["mean_abs"] == pytest.approx(0.25)  # 0 -> 0.5 (err 0.5); 500 -> 80 (err 0)
    with pytest.raises(ValueError, match="shape"):
        depth_metrics(np.ones(3), np.ones(4))
    empty = depth_metrics(np.ones(2), np.full(2, np.nan))
    assert empty["all"]["pixels"] == 0 and math.isnan(empty["all"]["rms"])
