"""The README's quickstart and Python examples stay true."""

import pathlib
import re

import pytest


README = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
# Blocks that need files or change import machinery are shown, not run.
RUNNABLE = [b for b in BLOCKS if "paired_folder" not in b and "install_import_hook" not in b]


def test_quickstart_is_two_commands_that_install_and_run():
    block = re.search(r"## Quickstart\n\n```bash\n(.*?)```", README, flags=re.DOTALL)
    assert block is not None
    lines = block.group(1).strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("pip install") and "eqx-multimodal train" in lines[0]
    assert lines[1].startswith("pip install") and "pytest" in lines[1]


@pytest.mark.slow
@pytest.mark.parametrize("code", RUNNABLE, ids=[f"block{i}" for i in range(len(RUNNABLE))])
def test_python_examples_run(code):
    exec(compile(code, "README.md", "exec"), {})
