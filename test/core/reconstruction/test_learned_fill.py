"""The learned multi-date fill: its input (gapfill and the evidence behind it), its plumbing, and its folds.

The stack is eo-learn's real five dates (two cloudy, three clear) with a
square hidden on one clear date, so the truth is known.  Stand-in networks
of known output (zero correction, a constant one) check the plumbing; the
fold test checks the leave-one-stack-out protocol by what each fold is
handed.
"""

from datetime import date

import numpy as np
import pytest

from cloudfree.core.errors import InputError, ModelCardError
from cloudfree.core.reconstruction.gapfill import FALLBACK, FROM_OTHER_DATES, gapfill, local_correction
from cloudfree.core.reconstruction.learned_fill import learned_gapfill, load_multidate_card
from cloudfree.core.reconstruction.multidate_input import CHANNELS, GAP_SCALE_DAYS, multidate_features
from cloudfree.models.clear_scenes import eolearn_series

HOLE = (slice(20, 70), slice(30, 80))


@pytest.fixture(scope="module")
def stack(data_dir):
    reflectance, dates, clear = eolearn_series()
    days = [float(d.toordinal()) for d in dates]
    target = next(k for k in range(len(dates)) if clear[k].all())
    masked = clear.copy()
    masked[target][HOLE] = False
    return reflectance.astype(np.float64), masked, days, target


def test_features_hold_gapfill_and_the_nearest_dates(stack):
    reflectance, clear, days, target = stack
    feats, _, _ = multidate_features(reflectance, clear, days, target)
    assert feats.shape[1] == len(CHANNELS)
    np.testing.assert_allclose(feats[:, 0], gapfill(reflectance, clear, days, target)[0], atol=1e-6)
    y, x = 40, 50                                   # in the hole, clear on the two other clear dates
    donors = sorted((i for i in range(len(days)) if i != target and clear[i][y, x]),
                    key=lambda i: abs(days[i] - days[target]))
    assert len(donors) == 2 and not clear[target][y, x]
    nearest, second = donors
    expected = local_correction(reflectance[nearest, 3], reflectance[target, 3], clear[nearest] & clear[target], 7)
    assert feats[3, CHANNELS.index("nearest"), y, x] == pytest.approx(expected[y, x], abs=1e-5)
    assert feats[3, CHANNELS.index("nearest_gap"), y, x] == pytest.approx(
        abs(days[nearest] - days[target]) / GAP_SCALE_DAYS)
    assert feats[3, CHANNELS.index("second_gap"), y, x] == pytest.approx(
        abs(days[second] - days[target]) / GAP_SCALE_DAYS)
    assert feats[0, CHANNELS.index("dates_seen"), y, x] == pytest.approx(2 / 4)
    outside = (5, 5)                                # a clear target pixel: no date is used there
    assert feats[0, CHANNELS.index("hole")][outside] == 0
    assert feats[0, CHANNELS.index("nearest_seen")][outside] == 0
    assert feats[0, CHANNELS.index("nearest")][outside] == feats[0, 0][outside]


def stand_in(tmp_path, bias, head: str = "residual"):
    """A fill network whose last layer is the constant `bias` (a correction in normalised units, or the blend's
    logits), exported as shipped."""
    import torch
    from cloudfree.core.training.multidate import MultidateConfig, build_fill_model, export_fill
    config = MultidateConfig(head=head)
    model = build_fill_model(config)
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    path = export_fill(model, config, tmp_path / f"fill_{head}_{abs(hash(str(bias)))}.onnx",
                       {"name": "stand_in", "held_out": "eolearn"}, ["B02"])
    return load_multidate_card(str(path))


def test_zero_correction_is_gapfill_and_clear_pixels_are_untouched(stack, tmp_path):
    reflectance, clear, days, target = stack
    out, source = learned_gapfill(reflectance, clear, days, target, stand_in(tmp_path, [0.0]))
    expected, expected_source = gapfill(reflectance, clear, days, target)
    np.testing.assert_array_equal(source, expected_source)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert np.array_equal(out[:, clear[target]], reflectance[target][:, clear[target]])


def test_a_correction_moves_only_the_pixels_filled_from_other_dates(stack, tmp_path):
    reflectance, clear, days, target = stack
    clear = clear.copy()
    unseen = (slice(60, 70), slice(30, 40))         # hidden on every date: gapfill's fallback
    clear[:, unseen[0], unseen[1]] = False
    out, source = learned_gapfill(reflectance, clear, days, target, stand_in(tmp_path, [0.5]))
    base, _ = gapfill(reflectance, clear, days, target)
    moved = out - base
    filled = source == FROM_OTHER_DATES
    band_std = reflectance[target][:, clear[target]].std(axis=1) + 0.01   # the patch statistics, about
    assert np.all(moved[:, filled].mean(axis=1) > 0.25 * band_std)
    assert np.all(moved[:, source == FALLBACK] == 0)
    assert np.all(moved[:, clear[target]] == 0)


def test_a_blend_that_trusts_the_nearest_date_returns_it(stack, tmp_path):
    from cloudfree.core.training.multidate import BLEND_CANDIDATES, BLEND_PRIOR
    reflectance, clear, days, target = stack
    logits = [0.0] * len(BLEND_CANDIDATES)
    logits[BLEND_CANDIDATES.index(CHANNELS.index("nearest"))] = BLEND_PRIOR + 20.0
    out, source = learned_gapfill(reflectance, clear, days, target, stand_in(tmp_path, logits, "blend"))
    feats, _, _ = multidate_features(reflectance, clear, days, target)
    filled = source == FROM_OTHER_DATES
    np.testing.assert_allclose(out[:, filled], feats[:, CHANNELS.index("nearest")][:, filled], atol=1e-5)
    assert not np.allclose(out[:, filled], gapfill(reflectance, clear, days, target)[0][:, filled], atol=1e-3)


def test_a_model_of_another_kind_is_refused():
    with pytest.raises(ModelCardError, match="multi-date fill"):
        load_multidate_card("cloudfree_s2")


def test_asking_for_the_learned_fill_without_a_model_says_none_is_bundled():
    with pytest.raises(ModelCardError, match="No learned multi-date fill is bundled.*train_multidate"):
        load_multidate_card(None)


def test_no_fold_trains_on_the_stack_it_scores(monkeypatch, tmp_path):
    from cloudfree.models import train_multidate
    seen = {}

    def fake_train(config, train, val, masks, workdir, feedback=None):
        seen[workdir.name] = ([s.name for s in train], [s.name for s in val])
        raise RuntimeError("stop after the split")
    monkeypatch.setattr(train_multidate, "train_fill", fake_train)
    for fold in train_multidate.LOADERS:
        with pytest.raises(RuntimeError, match="stop after the split"):
            train_multidate.train_fold(fold, train_multidate.MultidateConfig(), tmp_path)
        trained, validated = seen[fold]
        assert fold not in trained and fold not in validated
        assert "layton" in trained and validated == ["layton_validation"]


def test_gapfill_rasters_with_the_learned_method_on_real_geotiffs(tmp_path, data_dir):
    """The file front: with a blend that trusts the nearest date the file differs from the gain/offset fill only
    on filled pixels, strips give the whole-image result, and without a model the run stops before writing."""
    import rasterio
    from cloudfree.core.reconstruction.gapfill_rasters import gapfill_rasters
    from cloudfree.core.training.multidate import BLEND_CANDIDATES, BLEND_PRIOR
    from timeseries_fixture import build_series
    series = build_series(tmp_path / "series")
    logits = [0.0] * len(BLEND_CANDIDATES)
    logits[BLEND_CANDIDATES.index(CHANNELS.index("nearest"))] = BLEND_PRIOR + 20.0
    model = str(stand_in(tmp_path, logits, "blend").onnx_path)
    common = dict(masks=series["masks"], dates=series["dates"])

    def read(path):
        with rasterio.open(path) as ds:
            return ds.read().astype(np.int64)
    gapfill_rasters(series["images"], tmp_path / "plain.tif", 3, **common)
    gapfill_rasters(series["images"], tmp_path / "learned.tif", 3, method="learned", multidate_model=model, **common)
    gapfill_rasters(series["images"], tmp_path / "strips.tif", 3, method="learned", multidate_model=model,
                    max_memory_mb=12, **common)   # strips of about 45 rows
    plain, learned, strips = (read(tmp_path / f"{n}.tif") for n in ("plain", "learned", "strips"))
    cloud = series["cloud"]
    assert np.array_equal(learned[:, ~cloud], plain[:, ~cloud])
    stack = np.stack([read(p) for p in series["images"]]).astype(np.float32) / 10000
    clear = np.stack([read(m)[0] == 0 for m in series["masks"]])
    days = [float(date.fromisoformat(d).toordinal()) for d in series["dates"]]
    expected, _ = learned_gapfill(stack, clear, days, 3, load_multidate_card(model))
    assert np.abs(learned - np.rint(expected.astype(np.float64) * 10000)).max() <= 1   # the array result
    assert np.count_nonzero(learned[:, cloud] != plain[:, cloud]) > 1000      # the nearest date, not the average
    assert np.abs(strips - learned).max() <= 1                                 # float rounding at most
    with pytest.raises(ModelCardError, match="No learned multi-date fill is bundled"):
        gapfill_rasters(series["images"], tmp_path / "none.tif", 3, method="learned", **common)
    assert not (tmp_path / "none.tif").exists()
    with pytest.raises(InputError, match="Unknown gap-fill method 'neural'"):
        gapfill_rasters(series["images"], tmp_path / "none.tif", 3, method="neural", **common)
    assert not (tmp_path / "none.tif").exists()
