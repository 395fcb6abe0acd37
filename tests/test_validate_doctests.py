"""The examples in the docstrings of the validator's modules run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["boundcalc.validate.protocol", "boundcalc.validate.generators", "boundcalc.validate.summary",
           "boundcalc.validate.kde.experiment", "boundcalc.validate.diffusion.options",
           "boundcalc.validate.diffusion.fits", "boundcalc.model.kde_law", "boundcalc.validate.refit",
           "boundcalc.model.schemes"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
