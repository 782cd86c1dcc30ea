"""One cloudmask call opens its input once: each file, and a .SAFE product's metadata, read by one opening."""
import collections
import xml.etree.ElementTree as ET
from pathlib import Path

import rasterio

from cloudfree.core.api import cloud_mask

SAMPLE = Path(__file__).resolve().parents[3] / "sample" / "sen12mscr_cloudy_l1c.tif"


def _count_opens(monkeypatch):
    opened = collections.Counter()
    real = rasterio.open

    def counting(path, mode="r", *args, **kwargs):
        opened[(Path(str(path)).name, mode)] += 1
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", counting)
    return opened


def test_a_raster_is_opened_once_with_the_automatic_model_and_band_guess(monkeypatch, tmp_path):
    opened = _count_opens(monkeypatch)
    from cloudfree.core.io import inputs
    guesses = []
    real_guess = inputs.guess_mapping
    monkeypatch.setattr(inputs, "guess_mapping", lambda *a, **k: guesses.append(1) or real_guess(*a, **k))
    result = cloud_mask(SAMPLE, tmp_path / "mask.tif", resolution_m=20)
    assert result.cloud_percent > 0
    assert opened[(SAMPLE.name, "r")] == 1
    assert len(guesses) == 1  # the band order is decided once, for the model choice and the reading


def test_a_safe_product_parses_each_metadata_file_once_and_opens_each_band_once(monkeypatch, safe_l1c, tmp_path):
    opened = _count_opens(monkeypatch)
    parsed = []
    real = ET.fromstring
    monkeypatch.setattr(ET, "fromstring", lambda text, *a, **k: parsed.append(1) or real(text, *a, **k))
    cloud_mask(safe_l1c, tmp_path / "mask.tif", resolution_m=20)
    bands = {name: n for (name, mode), n in opened.items() if name.endswith(".jp2")}
    assert len(bands) == 6 and set(bands.values()) == {1}, bands  # cloudfree_s2: six bands, each opened once
    metadata_files = {p.name for p in Path(safe_l1c).rglob("*.xml")} | {"manifest.safe"}
    assert 0 < len(parsed) <= len(metadata_files)


def test_the_class_raster_is_written_twice_with_a_buffer_and_the_shadow_check(monkeypatch, tmp_path):
    """Inference, shadow check and buffer, then the COG: every mask pixel written to disk twice, no more."""
    from cloudfree.core.io import outputs
    written = collections.Counter()  # single-band rasters (class rasters): pixels written per file
    real_write, real_copy = outputs.StripWriter.write, outputs.rasterio.shutil.copy

    def counting_write(self, array, window):
        if array.ndim == 2 or array.shape[0] == 1:
            written[self.path.name] += int(window.width * window.height)
        return real_write(self, array, window)

    copies = []
    monkeypatch.setattr(outputs.StripWriter, "write", counting_write)
    monkeypatch.setattr(outputs.rasterio.shutil, "copy",
                        lambda src, dst, **kw: copies.append(Path(str(dst)).name) or real_copy(src, dst, **kw))
    result = cloud_mask(SAMPLE, tmp_path / "mask.tif", tmp_path / "confidence.tif", resolution_m=20, buffer_px=2)
    with rasterio.open(tmp_path / "mask.tif") as mask:
        pixels = mask.width * mask.height
    strip_files = [n for n, count in written.items() if count == pixels]
    assert len(strip_files) == 1, written  # one temporary class raster, filled once, whole
    assert sum(1 for n in copies if n.startswith(".mask")) == 1  # and one COG made from it
    assert result.stats.counts[1] + result.stats.counts[2] > 0
