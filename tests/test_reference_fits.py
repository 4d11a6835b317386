"""Fits of the README's configurations end where the engine before the split ended.

The reference coefs in data/reference_fits.npz were written by
data/make_reference_fits.py with the engine before the kernel/executor split.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).with_name("data")
_spec = importlib.util.spec_from_file_location("reference", DATA / "make_reference_fits.py")
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)
EXPECTED = np.load(reference.PATH)


def test_every_configuration_has_a_reference():
    assert sorted(EXPECTED.files) == sorted(reference.CONFIGS)


@pytest.mark.parametrize("name", sorted(reference.CONFIGS))
def test_fit_ends_where_it_ended_before(name):
    got, expected = reference.fit(name), EXPECTED[name]
    assert got.shape == expected.shape
    assert np.linalg.norm(got - expected) <= 1e-9 * np.linalg.norm(expected)
