"""The package reads as its architecture: modalities -> data -> nn -> losses -> metrics ->
training (the core) -> guide -> figures -> command line, every import pointing down, the
core loading nothing of the guide, and the guide's shim a leaf. The built-in modalities
are registered like a plug-in: their module sits above the models it builds towers from,
and the registry (below the data) loads it by name on the first lookup."""

import ast
import pathlib
import subprocess
import sys

import eqx_multimodal


PACKAGE = pathlib.Path(eqx_multimodal.__file__).parent
#: Each top-level part of the package, lowest first: a module may import from its own
#: part and from lower ones, never from a higher one.
LAYERS = [
    {"_types", "_validation", "_io", "_progress"},
    {"distributed"},
    {"modalities"},
    {"data"},
    {"nn"},
    {"losses"},
    {"modalities._builtins"},
    {"metrics"},
    {"training"},
    {"guide"},
    {"viz"},
    {"testing"},
    {"cli", "__main__"},
    {"nnx"},
]
RANK = {part: i for i, parts in enumerate(LAYERS) for part in parts}
# The package's face (`__version__`, ...) imports the data and distributed parts.
RANK["__init__"] = RANK["data"]


#: Modules that are a part of their own, apart from their folder's.
OWN_PART = {"modalities/_builtins.py": "modalities._builtins"}


def _part(module: pathlib.Path) -> str:
    relative = module.relative_to(PACKAGE)
    return OWN_PART.get(relative.as_posix(), relative.parts[0].removesuffix(".py"))


def _imported_parts(module: pathlib.Path) -> set[str]:
    """The top-level parts of this package that `module` imports."""
    tree = ast.parse(module.read_text())
    depth_of_package = len(module.relative_to(PACKAGE).parts)  # 1: at the top
    parts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                name = node.module or ""
                if name.startswith("eqx_multimodal."):
                    parts.add(name.split(".")[1])
                continue
            up = node.level - (depth_of_package - 1)
            if up < 1:
                continue  # inside its own part
            target = (node.module or "").split(".")[0]
            if target:
                parts.add(target)
            else:  # `from .. import name`: a part, or a name of the package's face
                parts.update(a.name if a.name in RANK else "__init__" for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("eqx_multimodal."):
                    parts.add(alias.name.split(".")[1])
    return parts


def test_every_import_points_down():
    modules = sorted(p for p in PACKAGE.rglob("*.py"))
    assert len(modules) > 40
    upward = []
    for module in modules:
        part = _part(module)
        if part == "__init__":
            continue  # the package's face re-exports from below
        assert part in RANK, f"{module} is in no layer; add its part to LAYERS"
        for imported in _imported_parts(module) - {part}:
            assert imported in RANK, f"{module} imports an unknown part {imported!r}"
            if RANK[imported] > RANK[part]:
                upward.append(f"{module.relative_to(PACKAGE)} imports {imported}")
    assert upward == []


def test_the_shim_is_a_leaf():
    # Import every part but the shim, in a fresh interpreter, and look for it.
    parts = sorted(RANK.keys() - {"nnx", "__main__"})
    code = (
        "import importlib, sys\n"
        f"for part in {parts!r}:\n"
        "    importlib.import_module('eqx_multimodal.' + part)\n"
        "print(sorted(m for m in sys.modules if m.startswith('eqx_multimodal.nnx')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_the_built_in_modalities_use_the_public_door():
    # Image, text and audio are registered as a user's modality is: through the names the
    # package exports, and the registry names no modality itself.
    builtins = PACKAGE / "modalities" / "_builtins.py"
    tree = ast.parse(builtins.read_text())
    used = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
    }
    assert used == {"Modality", "SpecFields", "register_modality"}
    import eqx_multimodal.modalities as modalities

    assert {"Modality", "SpecFields", "register_modality"} <= set(vars(modalities))
    for core in ("_registry.py", "_modality.py"):
        assert _strings(PACKAGE / "modalities" / core) & {"image", "text", "audio"} == set()


def test_the_core_s_towers_name_no_modality_and_no_family_of_the_guide():
    # Which towers a model gets is a registered family (`nn.register_towers`): the guide
    # registers its two as a user would; the model, its generators and the run's config
    # ask the family, not a name.
    for core in ("nn/_towers.py", "nn/_shared_latent.py", "nn/_generation.py",
                 "training/_config.py"):  # fmt: skip
        found = _strings(PACKAGE / core) & {"image", "text", "audio", "guide", "sets"}
        assert found == set(), (core, found)
    tree = ast.parse((PACKAGE / "guide" / "towers" / "_families.py").read_text())
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert {"register_towers", "TowerFamily"} <= calls


def test_the_folder_reader_and_writer_name_no_modality():
    # How a folder keeps a modality is its storage, a format value (`data/_formats.py`) the
    # built-ins attach in their registrations: the folder's reader, writer and manifest ask
    # the format, and name no modality (a user's may pick any of the formats).
    for core in ("data/_loader.py", "data/_writer.py", "data/_manifest.py", "data/_reading.py",
                 "data/_formats.py", "data/_codecs.py"):  # fmt: skip
        found = _strings(PACKAGE / core) & {"image", "text", "audio"}
        assert found == set(), (core, found)


def _strings(module: pathlib.Path) -> set[str]:
    """The string constants of `module`'s code (its docstrings left out)."""
    tree = ast.parse(module.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


#: The core: the parts below the guide.
CORE = [part for part in RANK if RANK[part] < RANK["guide"] and part != "__init__"]
#: Core modules that still reach the guide at import time (none).
REACHES_THE_GUIDE: set[str] = set()


def test_the_core_imports_nothing_of_the_guide():
    # Every module of the core, in a fresh interpreter: none loads the guide. Names that
    # moved to the guide keep their old paths in the core through a lookup on first use
    # (`metrics.achievable_retrieval`), which the core itself never makes.
    code = (
        "import importlib, pkgutil, sys\n"
        "import eqx_multimodal\n"
        f"core = {sorted(CORE)!r}\n"
        f"known = {sorted(REACHES_THE_GUIDE)!r}\n"
        "names = []\n"
        "for part in core:\n"
        "    name = 'eqx_multimodal.' + part\n"
        "    module = importlib.import_module(name)\n"
        "    names.append(name)\n"
        "    if hasattr(module, '__path__'):\n"
        "        names += [m.name for m in pkgutil.walk_packages(module.__path__, name + '.')]\n"
        "for name in names:\n"
        "    if name not in known:\n"
        "        importlib.import_module(name)\n"
        "guide = [m for m in sys.modules if m.startswith('eqx_multimodal.guide')]\n"
        "print(len(names), sorted(guide))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    count, loaded = out.stdout.strip().split(" ", 1)
    assert int(count) > 40
    assert loaded == "[]"


def test_old_paths_of_the_guide_s_names_still_work():
    import eqx_multimodal.guide as guide
    import eqx_multimodal.metrics as metrics

    for name in ("achievable_retrieval", "CEILING_PAIRS", "reference_coherence"):
        assert getattr(metrics, name) is getattr(guide, name)
    from eqx_multimodal.metrics import observation_scores

    assert observation_scores is guide.observation_scores
    # the guide's towers and fits, at their old `nn` names
    import eqx_multimodal.nn as nn
    from eqx_multimodal.nn import GratingSetDecoder

    assert GratingSetDecoder is guide.towers.GratingSetDecoder
    for name in nn.MOVED_TO_THE_GUIDE:
        value = getattr(nn, name)
        assert value is getattr(guide.towers, name)
        assert getattr(value, "__module__", "eqx_multimodal.guide").startswith(
            "eqx_multimodal.guide"
        ), name


def test_the_core_holds_none_of_the_guide_s_synthetic_data():
    # The synthetic generator, its config and dataset live in the guide, which registers
    # its config through the core's data-config seam (`training.register_data_config`);
    # the core's old names of them are lookups on first use (strings, not code).
    moved = {"SyntheticConfig", "SyntheticDataset", "synthetic_batch", "synthetic_item"}
    moved |= {"sharded_synthetic_batch", "sample_from_latent", "training_alignment"}
    moved |= {"image_from_latent", "text_from_latent", "audio_from_latent"}
    found = []
    for module in sorted(PACKAGE.rglob("*.py")):
        part = _part(module)
        if part == "__init__" or RANK[part] >= RANK["guide"]:
            continue
        tree = ast.parse(module.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        if (names | defined) & moved:
            found.append(
                (module.relative_to(PACKAGE).as_posix(), sorted((names | defined) & moved))
            )
    assert found == []
    import eqx_multimodal as em
    import eqx_multimodal.data as data
    import eqx_multimodal.training as training

    for name in data.MOVED_TO_THE_GUIDE:
        assert getattr(data, name) is getattr(em.guide, name)
    assert em.SyntheticConfig is em.guide.SyntheticConfig
    assert training.training_alignment is em.guide.training_alignment


#: The core's modules that may name a built-in modality: the generic towers of the three
#: (each says the modality it serves, as a tower of yours does) and the spoken-digit
#: dataset of them.
NAMES_A_BUILT_IN = {
    "nn/_encoders/image.py",
    "nn/_encoders/text.py",
    "nn/_encoders/audio.py",
    "nn/_decoders.py",
    "data/_digits.py",
}


def test_the_core_names_no_modality_but_in_the_built_ins_towers():
    # Outside docstrings, the three names appear in the core only in the towers built
    # for them; the registrations (modalities/_builtins.py) and the guide are not core.
    found = {}
    for module in sorted(PACKAGE.rglob("*.py")):
        part = _part(module)
        if part == "__init__" or RANK[part] >= RANK["guide"] or part == "modalities._builtins":
            continue
        relative = module.relative_to(PACKAGE).as_posix()
        names = _strings(module) & {"image", "text", "audio"}
        if names and relative not in NAMES_A_BUILT_IN:
            found[relative] = sorted(names)
    assert found == {}
    for relative in NAMES_A_BUILT_IN:  # no stale entry
        assert _strings(PACKAGE / relative) & {"image", "text", "audio"}, relative
