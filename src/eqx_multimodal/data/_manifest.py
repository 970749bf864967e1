"""The layout of a paired folder, and which file holds which sample.

```
manifest.json    {"format": ..., "version": 1, "modalities": [...], "num_samples": N,
                  "image_shape": [...], "sample_rate": ..., "pairs": [...],
                  "samples": [{"id": "000000", "image": "image/000000.png",
                               "audio": "audio/000000.wav", "alignment": 0.8,
                               "latent": [...], "label": "7"}, ...]}
image/000000.png one image a sample: L, LA, RGB or RGBA (or any format Pillow reads)
audio/000000.wav one mono PCM WAV a sample, every one at the same rate
text.jsonl       one line a sample: {"id": "000000", "tokens": [12, 7, ...]}
                                 or {"id": "000000", "text": "a spoken seven"}
```

Which files hold a modality is its storage (`Modality.storage`, a folder format): a
registered modality of yours with a `suffix` (`eqx_multimodal.register_modality`), or
stored as PNG images, is kept as image and audio are, one file a sample:
`depth/000000.png`, named in the manifest's samples under `"depth"`, and its item shape
in the manifest's `"shapes"`; one stored as JSON lines is kept as text is, in one
`NAME.jsonl` a folder.

The manifest is optional: without it the samples are the ids (file stems) found in
`image/`, `audio/` (and the sub-folders of the registered modalities) and `text.jsonl`
(and the JSON-lines files of the registered modalities).
Every path must stay inside the folder (symbolic links that stay inside are fine): a
manifest path such as `../x.png` or `/etc/x.png`, or a link out of the folder, is
refused with the sample and the path named.
"""

import os
import re
from pathlib import Path
from typing import Any

from .._io import read_json
from ..modalities import get_modality, registered_modalities


MANIFEST = "manifest.json"
FORMAT = "eqx-multimodal paired folder"
VERSION = 1
#: What a sample of the manifest holds besides its modalities' files (it may hold more
#: entries, but no other file).
METADATA_KEYS = frozenset({"id", "alignment", "latent", "label"})
FILE_LIKE = re.compile(r"/|\.[A-Za-z0-9]{1,5}$")


def file_modalities(modalities: tuple[str, ...] | list[str] | None = None) -> tuple[str, ...]:
    """Those of `modalities` (default: every registered one) that a folder keeps one
    file a sample, `NAME/ID.SUFFIX` (image, audio, and yours with a `suffix` or a format
    of files)."""
    names = registered_modalities() if modalities is None else modalities
    return tuple(m for m in names if get_modality(m).stored_in_files)


def _unknown_modalities(modalities: list[Any]) -> str:
    unknown = [m for m in modalities if m not in registered_modalities()]
    if not unknown:
        return ""
    return (
        f": {unknown[0]!r} is not a registered modality (register it with "
        "eqx_multimodal.register_modality, or --import the module that does)"
    )


def check_id(sample_id: Any, where: str) -> str:
    """A sample id: a non-empty string without line breaks."""
    if not isinstance(sample_id, str) or not sample_id.strip() or "\n" in sample_id:
        raise ValueError(
            f"{where}: the id must be a non-empty string on one line, got {sample_id!r:.60}"
        )
    return sample_id


def file_name(modality: str, sample_id: str) -> str:
    """Where the writer puts a sample's file: `image/ID.png`, `audio/ID.wav`."""
    return get_modality(modality).file_name(sample_id)


def natural(name: str) -> list[Any]:
    """Sort key that puts `2.png` before `10.png`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def inside(folder: Path, name: str, where: str) -> Path:
    """The file `name` of `folder`, refused unless it resolves inside the folder.

    `where` says who named the path (for the error), e.g. "manifest.json: samples[3]
    (id '000003')".
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: a file path must be a non-empty string, got {name!r}")
    if os.path.isabs(name):
        raise ValueError(
            f"{where}: the path {name!r} is absolute; paths are relative to the folder"
        )
    root = folder.resolve()
    try:
        path = (folder / name).resolve()
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError on a link loop
        raise ValueError(f"{where}: the path {name!r} is a loop of symbolic links") from None
    if not path.is_relative_to(root):
        raise ValueError(f"{where}: the path {name!r} leads outside the folder ({path})")
    return path


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, checked for its shape, or None when it has none."""
    path = folder / MANIFEST
    if not os.path.lexists(path):  # a broken link or a link loop is a manifest, unreadable
        return None
    inside(folder, MANIFEST, MANIFEST)
    manifest = read_json(path, MANIFEST, expect=None)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("samples"), list):
        raise ValueError(f"{MANIFEST}: must be a JSON object with a list of 'samples'")
    if manifest.get("version", VERSION) != VERSION:
        raise ValueError(
            f"{MANIFEST}: format version {manifest['version']!r}; this release reads {VERSION}"
        )
    return manifest


def files_in(folder: Path, modality: str) -> list[str]:
    """The visible files of a modality's sub-folder, as `modality/name`, in natural order."""
    sub = folder / modality
    if not sub.is_dir():
        return []
    names = [f"{modality}/{p.name}" for p in sub.iterdir() if not p.name.startswith(".")]
    return sorted(names, key=natural)


#: The modalities a folder keeps in one file a folder (text in `text.jsonl`): each
#: modality's `(file name, ids of the samples it has)`, the ids None when the folder has
#: no such file.
Lines = dict[str, tuple[str, set[str] | None]]


def _where_lines(lines: Lines) -> str:
    return ", ".join(f"{m} is in {file}" for m, (file, _) in lines.items())


def records_from_manifest(
    folder: Path, manifest: dict[str, Any], lines: Lines, allow_missing: bool
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The manifest's samples, each checked, and the folder's modalities.

    A record names a file for each of its modalities; with `allow_missing`, a sample
    may lack some (it has no key for them, and no line in `text.jsonl`). `lines`: the
    files a folder keeps a modality in (every registered one with such a file).
    """
    modalities = manifest.get("modalities")
    registered = registered_modalities()
    if (
        not isinstance(modalities, list)
        or not modalities
        or any(m not in registered for m in modalities)
        or len(set(modalities)) != len(modalities)
    ):
        why = _unknown_modalities(modalities) if isinstance(modalities, list) else ""
        raise ValueError(
            f"{MANIFEST}: 'modalities' must list some of {list(registered)}, got "
            f"{modalities!r}{why}"
        )
    files = file_modalities(modalities)
    sample_keys = METADATA_KEYS | set(file_modalities(registered))
    records = manifest["samples"]
    declared = manifest.get("num_samples", len(records))
    if declared != len(records):
        raise ValueError(
            f"{MANIFEST}: 'num_samples' is {declared} but 'samples' lists {len(records)}"
        )
    seen: set[str] = set()
    for i, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise ValueError(f"{MANIFEST}: samples[{i}] must be an object with a string 'id'")
        sample_id = record["id"]
        check_id(sample_id, f"{MANIFEST}: samples[{i}]")
        # More entries are welcome (the writer's `extra`), but a file under a key no
        # modality reads ("video": "video/1.mp4") would be ignored without a word.
        for key in sorted(set(record) - sample_keys):
            value = record[key]
            if isinstance(value, str) and FILE_LIKE.search(value):
                raise ValueError(
                    f"{MANIFEST}: samples[{i}] (id {sample_id!r}) names the file {value!r} "
                    f"under {key!r}, which is not a registered modality; the files are "
                    f"{list(file_modalities())} ({_where_lines(lines)})"
                )
        if sample_id in seen:
            raise ValueError(f"{MANIFEST}: samples[{i}] repeats the id {sample_id!r}")
        seen.add(sample_id)
        where = f"{MANIFEST}: samples[{i}] (id {sample_id!r})"
        for modality in files:
            if modality not in record:
                if not allow_missing:
                    raise ValueError(
                        f"{where} names no {modality} file (pass allow_missing=True, or "
                        "--allow-missing, for samples without some modalities)"
                    )
                continue
            inside(folder, record[modality], where)
    # Files that no sample names would be lost without a word: refuse them instead.
    for modality in files:
        listed = {os.path.normpath(r[modality]) for r in records if modality in r}
        for name in files_in(folder, modality):
            if os.path.normpath(name) not in listed:
                raise ValueError(
                    f"{name}: not listed in {MANIFEST}; add it to 'samples' or remove it"
                )
    for modality, (file, found) in lines.items():
        if found is not None and modality not in modalities:
            raise ValueError(f"{file}: present, but {MANIFEST} lists no {modality!r} modality")
        if found is None and modality in modalities:
            raise ValueError(f"{file}: missing, but {MANIFEST} lists the {modality!r} modality")
        if found is None:
            continue
        ids = [r["id"] for r in records]
        if not allow_missing:
            for sample_id in ids:
                if sample_id not in found:
                    raise ValueError(f"{file}: no line for id {sample_id!r}")
        extra = sorted(found - set(ids), key=natural)
        if extra:
            raise ValueError(f"{file}: id {extra[0]!r} is not a sample in {MANIFEST}")
    return records, tuple(m for m in registered if m in modalities)


def records_from_scan(
    folder: Path, lines: Lines, allow_missing: bool
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The samples of a folder without a manifest: the ids of the files found (and of
    the lines of `lines`'s files)."""
    found: dict[str, dict[str, str]] = {}
    files = file_modalities()
    for modality in files:
        if (folder / modality).is_dir():
            by_id: dict[str, str] = {}
            for name in files_in(folder, modality):
                stem = Path(name).stem
                if stem in by_id:
                    raise ValueError(f"{name}: a second {modality} file for id {stem!r}")
                inside(folder, name, name)
                by_id[stem] = name
            found[modality] = by_id
    for modality, (file, ids) in lines.items():
        if ids is not None:
            found[modality] = {sample_id: file for sample_id in ids}
    if not found:
        places = [MANIFEST, *(f"{m}/" for m in files), *(file for file, _ in lines.values())]
        raise FileNotFoundError(
            f"{str(folder)!r} has no {', '.join(places[:-1])} or {places[-1]}: not a paired folder"
        )
    modalities = tuple(m for m in registered_modalities() if m in found)
    ids = sorted(set().union(*found.values()), key=natural)
    if not allow_missing:
        for modality in modalities:
            missing = [i for i in ids if i not in found[modality]]
            if missing:
                counts = ", ".join(f"{len(found[m])} {m}" for m in modalities)
                where = lines[modality][0] if modality in lines else f"{modality}/"
                has = ", ".join(m for m in modalities if missing[0] in found[m])
                raise ValueError(
                    f"mismatched counts ({counts}): {where} has nothing for id {missing[0]!r}, "
                    f"which {has} has (pass allow_missing=True, or --allow-missing, for "
                    "samples without some modalities)"
                )
    records = [
        {"id": i, **{m: found[m][i] for m in files if m in found and i in found[m]}} for i in ids
    ]
    return records, modalities
