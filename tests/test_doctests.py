"""Run the `>>>` examples in the package's docstrings."""

import doctest
import importlib
import pkgutil

import pytest

import eqx_multimodal


def _modules():
    for info in pkgutil.walk_packages(eqx_multimodal.__path__, "eqx_multimodal."):
        if ".cli" in info.name or info.name.endswith("__main__"):
            continue
        yield info.name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_modules()))
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
