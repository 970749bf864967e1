"""The documentation site stays true: every tutorial's code (and every other page's
Python) runs as written, and every public name has an entry in the API reference."""

import importlib.util
import pathlib
import re

import jax
import pytest


ROOT = pathlib.Path(__file__).parent.parent
DOCS = ROOT / "docs"
TUTORIALS = sorted((DOCS / "tutorials").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)
#: Every page with Python on it: the tutorials, and the examples of the other pages.
PAGES = sorted(p for p in DOCS.rglob("*.md") if BLOCK.search(p.read_text()))
#: Pages that train or compile more than a few small programs (over ~10 s here).
SLOW = {
    "tutorials/own-data.md",
    "tutorials/fourth-modality.md",
    "tutorials/scaling-out.md",
    "explanations/models.md",
    "index.md",
    "generation.md",
}


def python_blocks(page: pathlib.Path) -> list[str]:
    """The page's ```python blocks, in order."""
    return BLOCK.findall(page.read_text())


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _param(page: pathlib.Path):
    name = page.relative_to(DOCS).as_posix()
    marks = [pytest.mark.slow] if name in SLOW else []
    return pytest.param(page, id=name.removesuffix(".md"), marks=marks)


def test_every_tutorial_has_python_to_run():
    assert TUTORIALS, "no tutorials found"
    for page in TUTORIALS:
        assert python_blocks(page), f"{page.name} has no ```python block"


@pytest.mark.parametrize("page", [_param(p) for p in PAGES])
def test_page_runs_as_written(page, tmp_path, monkeypatch):
    """A page's blocks run in order in one namespace, in an empty folder, as a reader who
    copies them into one script runs them: with JAX's default dtype promotion (the suite's
    strict promotion is for the library; optax, which a reader's loop uses, is not
    strict-clean)."""
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs.tutorials.{page.stem}"}
    with jax.numpy_dtype_promotion("standard"):
        for i, code in enumerate(python_blocks(page)):
            where = f"{page.relative_to(ROOT)} (python block {i})"
            exec(compile(code, where, "exec"), namespace)


def test_the_block_extractor_finds_blocks_in_order(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# t\n```python\na = 1\n```\n\n```bash\nls\n```\n```python\nb = a\n```\n")
    assert python_blocks(page) == ["a = 1\n", "b = a\n"]


# --- the API reference -------------------------------------------------------------------


def test_every_public_name_has_an_api_page():
    """Each public subpackage has a page that renders it whole (`::: module`), so that
    each of its names gets an entry; `mkdocs build --strict` checks the entries."""
    hooks = _hooks()
    rendered = set()
    for page in (DOCS / "api").glob("*.md"):
        rendered |= set(re.findall(r"^::: ([\w.]+)", page.read_text(), flags=re.MULTILINE))
    assert set(hooks.MODULES) <= rendered
    for anchor in hooks.required_anchors():
        assert anchor.rsplit(".", 1)[0] in rendered, anchor


def test_the_api_check_names_a_missing_entry():
    hooks = _hooks()
    required = hooks.required_anchors()
    assert "eqx_multimodal.metrics.retrieval_metrics" in required
    # A top-level re-export needs its subpackage's entry.
    assert required["eqx_multimodal.data.PairedDataset"] in {
        "eqx_multimodal.PairedDataset",
        "eqx_multimodal.data.PairedDataset",
    }
    assert hooks.missing_entries(required) == []
    anchors = set(required) - {"eqx_multimodal.metrics.retrieval_metrics"}
    assert hooks.missing_entries(anchors) == ["eqx_multimodal.metrics.retrieval_metrics"]
    assert hooks.undocumented() == []


def test_no_public_name_is_a_borrowed_import():
    """A module's public names are its own: an import such as `typing.Any` left public
    would need an API entry and fails the site's strict build."""
    hooks = _hooks()
    for module_name in hooks.MODULES:
        module = importlib.import_module(module_name)
        for name in hooks.public_names(module_name):
            owner = getattr(getattr(module, name), "__module__", None) or "eqx_multimodal"
            assert owner.startswith("eqx_multimodal"), f"{module_name}.{name} comes from {owner}"


def test_the_cli_reference_has_every_subcommand():
    """Every subcommand `eqx-multimodal --help` lists has its `--help` in the reference."""
    hooks = _hooks()
    from eqx_multimodal.cli._main import build_parser

    listed = re.findall(r"^    (\w+)  ", build_parser().format_help(), flags=re.MULTILINE)
    assert {"train", "evaluate", "embed", "preview"} <= set(listed)
    text = hooks.cli_reference()
    for name in listed:
        assert f"$ eqx-multimodal {name} --help\nusage: eqx-multimodal {name} " in text
