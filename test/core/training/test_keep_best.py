"""The reconstruction networks' shared loop keeps the weights of the step that validated best, not the last."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cloudfree.core.training.keep_best import train_keep_best  # noqa: E402


def test_the_weights_kept_are_those_of_the_best_validation(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    x, y = torch.ones(4, 1), torch.full((4, 1), 3.0)
    scores = iter([0.5, 0.2, 0.9])              # the second validation (step 200) is the best
    seen = []

    def validate():
        seen.append(model.weight.item())
        score = next(scores)
        return score, {"val": score}, f"{score}"

    history, best = train_keep_best(model, 300, 0.05, tmp_path, lambda: ((model(x) - y) ** 2).mean(), validate)
    assert [h["step"] for h in history] == [100, 200, 300] and best == 0.2
    assert model.weight.item() == pytest.approx(seen[1]) and seen[1] != pytest.approx(seen[2])
    assert (tmp_path / "best.pt").is_file() and not model.training


def test_a_time_budget_stops_after_the_next_validation(tmp_path):
    model = torch.nn.Linear(1, 1)
    history, _ = train_keep_best(model, 1000, 0.01, tmp_path, lambda: model(torch.ones(1, 1)).sum() ** 2,
                                 lambda: (1.0, {}, "1"), max_minutes=1e-9)
    assert [h["step"] for h in history] == [100]


def test_the_multidate_fill_starts_from_gapfills_error(tmp_path, data_dir):
    """A few steps of the real fill trainer on eo-learn: the recorded baseline is gapfill's own validation error."""
    from cloudfree.core.training.multidate import MultidateConfig, TimeSeries, train_fill
    from cloudfree.models.clear_scenes import eolearn_series
    reflectance, dates, clear = eolearn_series()
    series = TimeSeries("eolearn", reflectance, clear, [float(d.toordinal()) for d in dates], ["B"] * 13)
    config = MultidateConfig(steps=3, samples=16, validation_samples=8, batch_size=4)
    model, stats = train_fill(config, [series], [series], [], tmp_path)
    assert [h["step"] for h in stats["history"]] == [0, 3]
    assert stats["history"][0]["val_masked_mse"] == stats["gapfill_val_masked_mse"] > 0
    assert np.isfinite(stats["best_val_masked_mse"]) and (tmp_path / "best.pt").is_file()


def test_the_inpainter_trainer_runs_through_the_shared_loop(tmp_path):
    """A few steps of the single-image inpainter's trainer on a real clear crop (eo-learn 2015-09-09)."""
    from cloudfree.core.training.data import Scene, SceneRecord
    from cloudfree.core.training.inpainting import InpaintConfig, train_inpainter
    from cloudfree.core.training.synthetic import TRAIN_BANDS
    from cloudfree.models.clear_scenes import L1C_BANDS, eolearn_series
    reflectance, dates, clear = eolearn_series()
    clear_date = next(k for k in range(len(dates)) if clear[k].all())
    image = np.stack([reflectance[clear_date][L1C_BANDS.index(b)] for b in TRAIN_BANDS]).astype(np.float32)
    scene = Scene(SceneRecord("eo", "eo", "synthetic", 10), image, np.zeros(image.shape[1:], np.uint8))
    config = InpaintConfig(bands=list(TRAIN_BANDS), patch=64, batch_size=2, steps=3, validation_patches=4)
    model, stats = train_inpainter(config, [scene], [scene], [], tmp_path)
    assert [h["step"] for h in stats["history"]] == [3]
    assert stats["best_val_loss"] == stats["history"][0]["val_loss"] > 0 and not model.training
