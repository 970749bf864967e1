"""Which encoder and decoder a model gets for each modality: a family of towers, chosen
by name (`towers=`), as a value registered through one door, `register_towers`.

- `"generic"` (here): the default towers of each registered modality (`Modality.encoder`
  and `Modality.decoder`, see `eqx_multimodal.modalities`): for the built-ins a residual
  conv net (`ImageEncoder`), a transformer over token ids (`TextEncoder`) and a log-mel
  conv net (`AudioEncoder`), with MLP decoders and an autoregressive text decoder; for a
  modality of yours, the factories you registered. The default for your own data.
- `"guide"` and `"sets"`: towers fitted to the guide's synthetic signals, registered by
  the guide (`eqx_multimodal.guide`, loaded on the first lookup of a family, like a
  plug-in); `"sets"` is the default for the built-in synthetic data.
- Yours: `register_towers(TowerFamily("mine", encoder=..., decoder=...))` in a module of
  yours (the command line imports it with `--import MODULE`), then `towers="mine"`.
"""

import dataclasses
import importlib
import threading
from collections.abc import Callable
from typing import Any

from jaxtyping import PRNGKeyArray

from .._validation import check_choice, check_int, shown
from ..data import as_spec, DataSpec
from ..modalities import get_modality
from ..modalities._modality import NAME
from ._base import AbstractDecoder, AbstractEncoder


#: `(modality, data, d_model, *, key) -> AbstractEncoder` (`data` as `make_encoder`'s).
FamilyEncoder = Callable[..., AbstractEncoder]
#: `(modality, data, d_in, *, key) -> AbstractDecoder`.
FamilyDecoder = Callable[..., AbstractDecoder]
#: The package that registers the guide's families (`"guide"`, `"sets"`): loaded on the
#: first lookup, so that this registry (below the guide) imports nothing of it.
GUIDE_TOWERS = "eqx_multimodal.guide.towers"


class UnknownTowersError(ValueError):
    """A tower family name that no registration made known (`get_towers`)."""


@dataclasses.dataclass(frozen=True)
class TowerFamily:
    """A family of towers: how a model builds the encoder (and decoder) of each
    modality it reads. A frozen dataclass, like `Modality`: it holds functions, never
    arrays, and is compared as a static value.

    **Fields:**

    - `name`: what `towers=` (and `--towers`) calls it: lower-case letters, digits, `_`.
    - `encoder`: `(modality, data, d_model, *, key) -> AbstractEncoder`, whose output is
        `(d_model,)`; `data` is a `DataSpec` or anything with a `spec` (a
        `SyntheticConfig`, a dataset, a folder).
    - `decoder`: `(modality, data, d_in, *, key) -> AbstractDecoder` from a `(d_in,)`
        condition, or None (the model then has no decoders, and no reconstruction).
    - `modalities`: the modalities it builds towers for, or None for every registered
        one. Any other is refused in one line.
    - `normalized`: whether `SharedLatentModel` L2-normalises the latents (a dot product
        is then a cosine); False for towers whose latents' dot product is itself a
        score (the guide's `"sets"`).
    - `check`: optional `(config) -> None`, called with a `TrainConfig` that names the
        family: a one-line error for a run its towers cannot serve.
    - `reranker`: optional `(modalities) -> AbstractReranker | None`: the second stage
        of retrieval that evaluations of this family's models use (`evaluate(...,
        reranker=)`, the command line's `--rerank-top`) for runs on `modalities`; None
        where it re-ranks none of their pairs (the guide's `"sets"`: `SetReranker`,
        with image and audio).

    ```python
    >>> import jax.random as jr
    >>> from eqx_multimodal.data import DataSpec
    >>> from eqx_multimodal.nn import MLPEncoder
    >>> flat = TowerFamily(
    ...     "flat_doc",
    ...     encoder=lambda m, data, d, *, key: MLPEncoder(
    ...         as_spec(data).shape(m), 16, d, modality=m, key=key
    ...     ),
    ... )
    >>> _ = register_towers(flat, replace=True)
    >>> spec = DataSpec(modalities=("image", "audio"), image_shape=(4, 4, 1),
    ...                 sample_rate=1000, num_audio_samples=64)
    >>> make_encoder("audio", spec, 8, towers="flat_doc", key=jr.key(0)).d_model
    8

    ```
    """

    name: str
    encoder: FamilyEncoder
    decoder: FamilyDecoder | None = None
    modalities: tuple[str, ...] | None = None
    normalized: bool = True
    check: Callable[[Any], None] | None = None
    reranker: Callable[[tuple[str, ...]], Any] | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise ValueError(
                "a tower family's `name` is lower-case letters, digits and '_', starting "
                f"with a letter; got {self.name!r}"
            )
        where = f"tower family {self.name!r}"
        for field in ("encoder", "decoder", "check", "reranker"):
            value = getattr(self, field)
            if value is not None and not callable(value):
                raise TypeError(f"{where}: `{field}` must be callable, got {value!r:.60}")
        if self.encoder is None:
            raise TypeError(f"{where}: `encoder` is required")
        if self.modalities is not None:
            names = self.modalities
            if isinstance(names, str) or not isinstance(names, tuple | list):
                raise TypeError(f"{where}: `modalities` must be a tuple of names, got {names!r}")
            if not names or not all(isinstance(m, str) for m in names):
                raise ValueError(
                    f"{where}: `modalities` must be a non-empty tuple of names, got {names!r}"
                )
            object.__setattr__(self, "modalities", tuple(names))
        if not isinstance(self.normalized, bool):
            raise TypeError(f"{where}: `normalized` must be True or False, got {self.normalized!r}")

    def serves(self, modality: str) -> bool:
        """Whether the family builds towers for `modality`."""
        return self.modalities is None or modality in self.modalities

    def has_decoder(self, modality: str) -> bool:
        """Whether the family can build a decoder of `modality` (`"generic"`: whether the
        modality registered a `decoder` factory)."""
        if self.decoder is None or not self.serves(modality):
            return False
        return self.decoder is not _generic_decoder or get_modality(modality).decoder is not None


_families: dict[str, TowerFamily] = {}
_lock = threading.RLock()
_state = {"loaded": False}


def _load() -> None:
    """Register the guide's families, once (the generic one is registered below).

    Not under `_lock`: the import system serialises the import itself (a thread that
    imported the guide first would otherwise wait on the lock while holding the
    guide's import lock), and the guide's own registrations, which call back here,
    get the module being built. A failed import is raised again at the next lookup."""
    if not _state["loaded"]:
        importlib.import_module(GUIDE_TOWERS)
        _state["loaded"] = True


def register_towers(family: TowerFamily, *, replace: bool = False) -> TowerFamily:
    """Make `family` known by its name to `towers=` (models, `TrainConfig`, the command
    line's `--towers`); the guide's families are registered through this same call.

    - `family`: a `TowerFamily`.
    - `replace`: keyword only. Replace a family registered under the same name (default:
        a second registration of a name is an error).
    """
    if not isinstance(family, TowerFamily):
        raise TypeError(f"`family` must be a TowerFamily, got {type(family).__name__}")
    _load()  # the library's families first: a name of theirs is taken
    return _register(family, replace)


def _register(family: TowerFamily, replace: bool) -> TowerFamily:
    with _lock:
        known = _families.get(family.name)
        if known is not None and known is not family and not replace:
            raise ValueError(
                f"a tower family named {family.name!r} is already registered; pass "
                "replace=True to replace it"
            )
        _families[family.name] = family
    return family


def _forget(name: str) -> None:
    """Unregister a family (for tests)."""
    with _lock:
        _families.pop(name, None)


def tower_names() -> tuple[str, ...]:
    """The names of the registered tower families."""
    _load()
    return tuple(_families)


def get_towers(name: str) -> TowerFamily:
    """The family registered as `name`; else an `UnknownTowersError` (a ValueError) in
    one line, listing the registered ones (a family of yours is registered by the
    module that defines it: `--import MODULE` on the command line)."""
    names = tower_names()
    if isinstance(name, str) and name not in names:
        raise UnknownTowersError(
            f"`{shown('towers')}` must be one of {names}, got {name!r} (a family of yours: "
            "import the module that registers it, --import MODULE on the command line)"
        )
    return _families[check_choice(name, "towers", names)]


def default_towers(data: Any) -> str:
    """The towers `data` asks for (its `default_towers`; the guide's synthetic data of
    the built-in modalities asks for `"sets"`), else `"generic"`."""
    return getattr(data, "default_towers", None) or "generic"


def _family(modality: str, spec: DataSpec, towers: str) -> TowerFamily:
    family = get_towers(towers)
    get_modality(modality)  # unknown: a one-line error listing the registered ones
    if not family.serves(modality):
        raise ValueError(
            f"`towers` {towers!r} build towers for {list(family.modalities or ())}; modality "
            f"{modality!r} has only its registered towers: use towers='generic'"
        )
    if modality not in spec.modalities:
        raise ValueError(
            f"`modality` {modality!r} is not in the data, which has {list(spec.modalities)}"
        )
    return family


def make_encoder(
    modality: str,
    data: Any,
    d_model: int,
    *,
    towers: str = "generic",
    key: PRNGKeyArray,
) -> AbstractEncoder:
    """The encoder of `modality` for data shaped like `data`.

    **Arguments:**

    - `modality`: a registered modality (`"image"`, `"text"`, `"audio"`, or yours).
    - `data`: a `DataSpec`, or anything with a `spec` (`SyntheticConfig`,
        `PairedDataset`, `PairedFolder`).
    - `d_model`: the embedding size.
    - `towers`: keyword only. A registered family: `"generic"`, the guide's `"guide"`
        or `"sets"` (`eqx_multimodal.guide`), or yours (`register_towers`).
    - `key`: keyword only. The key of the initialisation.

    ```python
    >>> import jax.random as jr
    >>> from eqx_multimodal import SyntheticConfig
    >>> type(make_encoder("audio", SyntheticConfig(), 32, towers="guide", key=jr.key(0))).__name__
    'PeakAudioEncoder'

    ```
    """
    check_int(d_model, "d_model")
    spec = as_spec(data)
    family = _family(modality, spec, towers)
    return check_encoder(family.encoder(modality, data, d_model, key=key), modality, d_model)


def check_encoder(encoder: Any, modality: str, d_model: int) -> AbstractEncoder:
    """`encoder`, if it is an `AbstractEncoder` of width `d_model`; else a one-line
    error naming the modality (its output is checked again when it runs:
    `SharedLatentModel.embed`)."""
    if not isinstance(encoder, AbstractEncoder):
        raise TypeError(
            f"the encoder factory of modality {modality!r} must return an AbstractEncoder, "
            f"got {type(encoder).__name__}"
        )
    width = getattr(encoder, "d_model", None)
    if width != d_model:
        raise ValueError(
            f"the encoder of modality {modality!r} ({type(encoder).__name__}) has width "
            f"{width}, not d_model {d_model}"
        )
    return encoder


def make_decoder(
    modality: str,
    data: Any,
    d_in: int,
    *,
    towers: str = "generic",
    key: PRNGKeyArray,
) -> AbstractDecoder:
    """The decoder of `modality`, from a `(d_in,)` condition, for data shaped like `data`.

    Arguments as for `make_encoder`. The guide's decoders are small (the synthetic
    signals are simple) and its text decoder is a bag of tokens (its tokens are i.i.d.);
    the generic ones are each modality's registered `Modality.decoder` (the built-in
    text decoder is autoregressive).
    """
    check_int(d_in, "d_in")
    spec = as_spec(data)
    family = _family(modality, spec, towers)
    if family.decoder is None:
        raise ValueError(f"`towers` {towers!r} build no decoders (TowerFamily.decoder is None)")
    decoder = family.decoder(modality, data, d_in, key=key)
    where = f"the decoder factory of modality {modality!r} (`towers` {towers!r})"
    return check_decoder(decoder, where)


def check_decoder(decoder: Any, factory: str) -> AbstractDecoder:
    """`decoder`, if it is an `AbstractDecoder`; else a one-line error naming the
    `factory` that made it."""
    if not isinstance(decoder, AbstractDecoder):
        raise TypeError(f"{factory} must return an AbstractDecoder, got {type(decoder).__name__}")
    return decoder


def _generic_encoder(modality: str, data: Any, d_model: int, *, key: PRNGKeyArray):
    factory = get_modality(modality).encoder
    if factory is None:
        raise ValueError(
            f"modality {modality!r} has no encoder factory; register it with "
            "Modality(..., encoder=...)"
        )
    return factory(as_spec(data), d_model, key=key)


def _generic_decoder(modality: str, data: Any, d_in: int, *, key: PRNGKeyArray):
    factory = get_modality(modality).decoder
    if factory is None:
        raise ValueError(
            f"modality {modality!r} has no decoder factory; register it with "
            "Modality(..., decoder=...)"
        )
    return factory(as_spec(data), d_in, key=key)


#: Each registered modality's own towers (`Modality.encoder`, `Modality.decoder`).
GENERIC = _register(
    TowerFamily("generic", encoder=_generic_encoder, decoder=_generic_decoder), False
)
