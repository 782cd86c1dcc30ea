"""DN round trips and the dates of a series: the two conversions gap-filling relies on."""
from datetime import date

import numpy as np
import pytest

from cloudfree.core.io.dates import input_dates, parse_date, resolve_target, sensing_date, split_dates
from cloudfree.core.io.dn import DnCodec
from cloudfree.core.errors import InputError


@pytest.mark.parametrize("offset", [0.0, -1000.0])
def test_every_uint16_dn_survives_the_float32_reflectance_round_trip(offset):
    dn = np.arange(1, 65536, dtype=np.uint16).reshape(1, 255, 257)
    codec = DnCodec("uint16", (offset,), (10000.0,), None)
    reflectance = (dn.astype(np.float32) + offset) / 10000.0           # as the readers compute it
    np.testing.assert_array_equal(codec.encode(reflectance), dn)


def test_filled_values_never_read_back_as_no_data():
    codec = DnCodec("uint16", (0.0, 0.0), (10000.0, 10000.0), None)
    out = codec.encode(np.array([[[0.0, -0.2, 0.5]], [[0.0, 0.1, 7.0]]]))
    assert out[:, 0, 0].tolist() == [1, 1]                              # all-zero pixel moved off 0
    assert out[:, 0, 1].tolist() == [0, 1000] and out[:, 0, 2].tolist() == [5000, 65535]
    with_nodata = DnCodec("int16", (0.0,), (1.0,), -9999.0)
    assert with_nodata.encode(np.array([[[-9999.0, -40000.0]]])).tolist() == [[[-9998, -32768]]]
    floats = DnCodec("float32", (0.0,), (1.0,), 0.0)
    assert floats.encode(np.array([[[0.0, 0.25]]]))[0, 0, 0] > 0
    assert DnCodec("uint16", (-1000.0,), (10000.0,), 0.0).dn_of(0.3) == (4000.0,)


def test_dates_are_parsed_checked_and_taken_from_products(safe_l1c, tmp_path):
    assert parse_date("2015-08-30T10:05:47.123Z") == date(2015, 8, 30)
    assert split_dates("2015-07-11, 2015-08-30;2015-09-09") == ["2015-07-11", "2015-08-30", "2015-09-09"]
    assert split_dates("  ") is None
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        parse_date("30/08/2015")
    with pytest.raises(InputError, match="not a calendar date"):
        parse_date("2015-02-30")
    assert sensing_date(safe_l1c) == date(2021, 9, 8)
    plain = tmp_path / "x.tif"
    plain.write_bytes(b"")
    assert input_dates([safe_l1c, plain], ["", "2021-09-18"]) == [date(2021, 9, 8), date(2021, 9, 18)]
    with pytest.raises(InputError, match="one date per input"):
        input_dates([safe_l1c, plain], ["2021-09-18"])
    dates = [date(2015, 7, 11), date(2015, 8, 30)]
    assert resolve_target(1, dates) == 1 and resolve_target("2015-07-11", dates) == 0
    with pytest.raises(InputError, match="outside the 2 inputs"):
        resolve_target(2, dates)
