"""The README, the front page, stays true: its quickstart is the two commands CI reads,
every Python block runs as written, and every link into the docs resolves."""

import pathlib
import re

import pytest


ROOT = pathlib.Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, flags=re.DOTALL | re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_quickstart_is_two_commands_that_install_and_run():
    block = re.search(r"## Quickstart\n\n```bash\n(.*?)```", README, flags=re.DOTALL)
    assert block is not None
    lines = block.group(1).strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("pip install") and "eqx-multimodal train" in lines[0]
    assert lines[1].startswith("pip install") and "pytest" in lines[1]


def test_the_front_page_is_short_and_has_an_example():
    assert len(README.splitlines()) <= 150
    assert BLOCKS


def _slug(heading: str) -> str:
    """The anchor of a Markdown heading (Python-Markdown's `toc` slugify, as the site)."""
    text = re.sub(r"[^\w\s-]", "", heading.replace("`", "")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def test_links_into_the_docs_resolve():
    links = [link for link in LINK.findall(README) if "://" not in link]
    assert any(link.startswith("docs/") for link in links)
    own = {_slug(h) for h in re.findall(r"^#+ (.*)$", README, flags=re.MULTILINE)}
    for link in links:
        path, _, anchor = link.partition("#")
        target = ROOT / path if path else ROOT / "README.md"
        assert target.exists(), link
        if anchor and target.suffix == ".md":
            text = target.read_text() if path else README
            headings = {_slug(h) for h in re.findall(r"^#+ (.*)$", text, flags=re.MULTILINE)}
            assert anchor in (headings if path else own), link


@pytest.mark.slow
@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_python_examples_run(code):
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
