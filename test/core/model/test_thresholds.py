"""Cloud and shadow thresholds: the card's calibration by default, an analyst's when given."""
from __future__ import annotations

import pytest

from cloudfree.core.api import cloud_mask
from cloudfree.cli.main import main
from cloudfree.core.errors import InputError
from cloudfree.core.model.card import load_card
from conftest import SAMPLE


def test_a_threshold_is_the_probability_at_which_the_class_wins_over_clear():
    card = load_card("cloudfree_s2")
    assert card.weights_for(0.5, 0.5) == (1.0, 1.0)
    w_cloud, w_shadow = card.weights_for(0.2, 0.8)
    assert w_cloud == pytest.approx(4.0) and w_shadow == pytest.approx(0.25)
    # p * w > 1 - p exactly above the threshold
    assert 0.21 * w_cloud > 0.79 and not 0.19 * w_cloud > 0.81
    assert card.weights_for() == card.decision_weights
    back = card.weights_for(*card.thresholds)
    assert back == pytest.approx(card.decision_weights, rel=0.02)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_thresholds_outside_0_1_are_refused(bad, tmp_path):
    with pytest.raises(InputError, match="between 0 and 1"):
        load_card("cloudfree_s2").weights_for(cloud_threshold=bad)
    assert main(["cloudmask", str(SAMPLE), "-o", str(tmp_path / "m.tif"), "--shadow-threshold", str(bad)]) == 2
    assert not (tmp_path / "m.tif").exists()


def test_lower_thresholds_find_more(tmp_path):
    runs = {t: cloud_mask(SAMPLE, tmp_path / f"m{t}.tif", resolution_m=20, cloud_threshold=t, shadow_threshold=t)
            for t in (0.15, 0.5, 0.9)}
    default = cloud_mask(SAMPLE, tmp_path / "default.tif", resolution_m=20)
    assert runs[0.15].cloud_percent > runs[0.5].cloud_percent > runs[0.9].cloud_percent
    assert runs[0.15].cloud_percent >= default.cloud_percent >= runs[0.9].cloud_percent
    assert runs[0.15].stats.counts[3] + runs[0.15].stats.counts[1] + runs[0.15].stats.counts[2] > \
        runs[0.9].stats.counts[3] + runs[0.9].stats.counts[1] + runs[0.9].stats.counts[2]
