"""The `eqx-multimodal` command line."""

from ._main import main as main
