"""Pairing a study's series with the prior study's."""

from __future__ import annotations

from viewbox.priors import pair_series


def series(number, modality, description):
    return {"series_number": number, "modality": modality, "series_description": description}


def test_series_pair_by_modality_then_description_then_number():
    current = [series(1, "CT", "Topogram"), series(2, "CT", "Thorax 1.0 B31f"), series(3, "CT", "Abdomen 5.0"),
               series(4, "SR", "Dose report"), series(5, "MR", "T2 tse")]
    prior = [series(1, "CT", "ABDOMEN 5.0"), series(2, "CT", "Topogram 0.6"), series(7, "CT", "THORAX 1.0 B31F"),
             series(8, "CT", "Thorax 1.5 B70f"), series(3, "PT", "T2 tse")]
    pairs = pair_series(current, prior)
    assert [(now["series_number"], before and before["series_number"]) for now, before in pairs] == [
        (1, 2), (2, 7), (3, 1), (4, None), (5, None)]


def test_each_prior_series_is_used_once():
    current = [series(1, "CT", "Thorax"), series(2, "CT", "Thorax")]
    prior = [series(1, "CT", "Thorax")]
    pairs = pair_series(current, prior)
    assert [before is not None for _, before in pairs] == [True, False]
