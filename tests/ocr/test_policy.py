"""The pruning rule and the OCR settings, on hand-built scores."""

import pytest

from ocr.policy import OcrSettings, select_survivors, tile


def settings(keep: float = 0.8, delete: float | None = None) -> OcrSettings:
    return OcrSettings(keep_only_if_above=keep, delete_under=delete, parallel_workers=1)


def test_defaults_are_the_originals_later_settings() -> None:
    s = OcrSettings()
    assert (s.keep_only_if_above, s.delete_under, s.min_line_confidence, s.corner_margin) == (0.8, None, 65.0, 0.05)
    assert s.reader().min_line_confidence == 65.0
    assert s.reader().min_block_confidence == s.min_block_confidence == 30.0


def test_best_above_threshold_keeps_only_those_above() -> None:
    assert select_survivors([0.2, 0.85, 0.5, 0.9], settings()) == [1, 3]


def test_threshold_is_inclusive_and_ties_all_survive() -> None:
    assert select_survivors([0.8, 0.8, 0.79], settings()) == [0, 1]


def test_all_perfect_all_survive() -> None:
    assert select_survivors([1.0, 1.0, 1.0], settings()) == [0, 1, 2]


def test_below_threshold_without_delete_under_keeps_all() -> None:
    assert select_survivors([0.3, 0.1, 0.5], settings()) == [0, 1, 2]


def test_delete_under_prunes_the_worst() -> None:
    assert select_survivors([0.3, 0.05, 0.5, 0.1], settings(delete=0.1)) == [0, 2, 3]


def test_all_pruned_means_all_kept() -> None:
    assert select_survivors([0.01, 0.0, 0.05], settings(delete=0.1)) == [0, 1, 2]


def test_empty_ocr_everywhere_keeps_all() -> None:
    assert select_survivors([0.0, 0.0], settings(delete=0.1)) == [0, 1]


def test_no_candidates_is_an_error() -> None:
    with pytest.raises(ValueError, match="no candidates"):
        select_survivors([], settings())


def test_tile_fills_the_batch_in_order() -> None:
    assert tile([3, 1], 5) == [3, 1, 3, 1, 3]
    assert tile([7], 3) == [7, 7, 7]
    assert tile([1, 2, 3, 4], 2) == [1, 2]
    with pytest.raises(ValueError, match="empty"):
        tile([], 4)
    with pytest.raises(ValueError, match="at least 1"):
        tile([1], 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"keep_only_if_above": 1.5}, "keep_only_if_above"),
        ({"delete_under": -0.1}, "delete_under"),
        ({"keep_only_if_above": 0.5, "delete_under": 0.6}, "delete_under"),
        ({"min_line_confidence": -1}, "min_line_confidence"),
        ({"min_block_confidence": 101}, "min_block_confidence"),
        ({"corner_margin": 0.7}, "corner_margin"),
        ({"parallel_workers": 0}, "workers"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OcrSettings(**kwargs)
