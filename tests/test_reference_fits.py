"""Fits of the README's configurations end where the engine before the split ended.

The reference coefs in data/reference_fits.npz were written by
data/make_reference_fits.py with the engine before the kernel/executor split.
That engine computed the hidden sigmoid in its tanh form; the engine now
chooses the form per dtype and machine (see skmlp._activations), which moves
these 20-iteration fits by rounding only (up to 5e-3 for TNC's finite
differences), so the comparison runs with the old form: everything else in
the engine must match it to 1e-9.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from skmlp import _activations

DATA = Path(__file__).with_name("data")
_spec = importlib.util.spec_from_file_location("reference", DATA / "make_reference_fits.py")
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)
EXPECTED = np.load(reference.PATH)


def test_every_configuration_has_a_reference():
    names = sorted(reference.CONFIGS)
    assert sorted(EXPECTED.files) == sorted([*names, *(f"order_{n}" for n in names)])


@pytest.mark.parametrize("name", sorted(reference.CONFIGS))
def test_reference_rows_are_in_canonical_order(name):
    # So the fits below compare the engines alone: canonical rows leave the
    # data as they are.
    order = EXPECTED[f"order_{name}"]
    assert sorted(order) == list(range(len(order)))
    assert np.array_equal(reference.canonical_order(name), order)


@pytest.mark.parametrize("name", sorted(reference.CONFIGS))
def test_fit_ends_where_it_ended_before(name, monkeypatch):
    monkeypatch.setitem(_activations.ACTIVATIONS, "logistic", _activations.logistic_by_tanh)
    got, expected = reference.fit(name, EXPECTED[f"order_{name}"]), EXPECTED[name]
    assert got.shape == expected.shape
    assert np.linalg.norm(got - expected) <= 1e-9 * np.linalg.norm(expected)
