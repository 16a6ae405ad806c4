"""--shift's names: CIFAR-10-C's 15 by category, frost refused with its reason, the extras."""

from __future__ import annotations

import pandas as pd
import pytest

from bedash import names
from bedash.dashboard import uncertainty_tables as ut
from bedash.uncertainty.corruptions import CORRUPTION_NAMES

# Hendrycks & Dietterich 2019, Figure 1 / make_cifar_c.py's first 15, by category
CIFAR10C = {
    "noise": ["gaussian_noise", "shot_noise", "impulse_noise"],
    "blur": ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur"],
    "weather": ["snow", "frost", "fog"],
    "digital": ["brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression"],
}


def test_all_is_cifar_10_c_s_15_less_frost_and_extra_the_others() -> None:
    fifteen = [n for group in CIFAR10C.values() for n in group]
    assert len(fifteen) == 15
    assert names.parse_shift("all") == tuple(n for n in fifteen if n != "frost")
    assert names.parse_shift("extra") == ("speckle_noise", "gaussian_blur")
    assert names.parse_shift("contrast,all")[0] == "contrast"
    assert len(names.parse_shift("all,extra,contrast")) == 16 == len(CORRUPTION_NAMES)
    assert names.parse_shift("") == ()
    assert {k: list(v) for k, v in names.CORRUPTION_CATEGORIES.items()} == CIFAR10C
    for name in CORRUPTION_NAMES:  # every name accepted alone
        assert names.parse_shift(name) == (name,)


def test_frost_is_refused_with_the_reason_and_unknown_names_with_the_list() -> None:
    with pytest.raises(names.ConfigError, match="frost photographs"):
        names.parse_shift("all,frost")
    with pytest.raises(
        names.ConfigError, match="unknown corruption 'spatter'; allowed: all, extra"
    ):
        names.parse_shift("spatter")


def test_the_page_labels_the_means_and_lists_the_category_means_first() -> None:
    shift = pd.DataFrame({"corruption": ["clean", "contrast", "snow", "mean", "mean_weather",
                                         "mean_digital"]})  # fmt: skip
    assert ut.corruptions_in(shift) == ["mean_weather", "mean_digital", "contrast", "snow"]
    assert ut.corruption_label("mean") == "mean over CIFAR-10-C's corruptions"
    assert ut.corruption_label("mean_weather") == "mean over its weather corruptions"
    assert ut.corruption_label("snow") == "snow"
    assert "frost" in ut.MEAN_NOTE and "14" in ut.MEAN_NOTE
