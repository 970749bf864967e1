"""Tokenizers: text to fixed-length token ids.

A `Tokenizer` is anything with `vocab_size`, `pad_id`, `max_length`, `encode(text)` and
`to_dict()`. `ByteTokenizer` is built in and needs nothing; `HuggingFaceTokenizer` wraps
a `tokenizers.Tokenizer` (the optional `tokenizers` extra). A run saves its tokenizer
(`to_dict`) and `tokenizer_from_dict` rebuilds it, so `evaluate` and `embed` read text
exactly as training did.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .._validation import check_int
from ._limits import MAX_TEXT_LENGTH


@runtime_checkable
class Tokenizer(Protocol):
    """What the library needs of a tokenizer."""

    @property
    def vocab_size(self) -> int:
        """Ids are in `[0, vocab_size)`."""
        ...

    @property
    def pad_id(self) -> int:
        """The id that pads a text to `max_length`."""
        ...

    @property
    def max_length(self) -> int:
        """Every text becomes exactly this many ids."""
        ...

    def encode(self, text: str) -> tuple[np.ndarray, bool]:
        """`(ids, truncated)`: int32 ids of length `max_length`, and whether the text
        was cut to fit."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description that `tokenizer_from_dict` reads back."""
        ...


class ByteTokenizer:
    """UTF-8 bytes as tokens, with padding, begin and end marks: no vocabulary file, no
    dependency, every text representable.

    Ids: 0 pads, 1 begins, 2 ends, `3 + b` is the byte `b`, so `vocab_size` is 259. A
    text becomes `[BOS, bytes..., EOS]`, cut to `max_length` (the end mark kept; the cut
    is reported) and padded with 0 to it.

    ```python
    >>> tokenizer = ByteTokenizer(max_length=8)
    >>> ids, truncated = tokenizer.encode("seven")
    >>> ids.tolist(), truncated
    ([1, 118, 104, 121, 104, 113, 2, 0], False)
    >>> tokenizer.decode(ids)
    'seven'

    ```
    """

    PAD, BOS, EOS, OFFSET = 0, 1, 2, 3

    def __init__(self, max_length: int = 64):
        """**Arguments:**

        - `max_length`: ids a text (at least 3: the two marks and one byte).
        """
        self._max_length = check_int(max_length, "max_length", minimum=3, maximum=MAX_TEXT_LENGTH)

    @property
    def vocab_size(self) -> int:
        return 256 + self.OFFSET

    @property
    def pad_id(self) -> int:
        return self.PAD

    @property
    def max_length(self) -> int:
        return self._max_length

    def encode(self, text: str) -> tuple[np.ndarray, bool]:
        body = np.frombuffer(_checked(text).encode("utf-8"), np.uint8).astype(np.int32)
        room = self.max_length - 2
        marked = [self.BOS, *(body[:room] + self.OFFSET).tolist(), self.EOS]
        return _padded(marked, self.max_length, self.PAD), len(body) > room

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of `ids` (marks and padding dropped; a cut character is replaced)."""
        values = np.asarray(ids).astype(np.int64)
        body = values[values >= self.OFFSET] - self.OFFSET
        return bytes(body.astype(np.uint8).tolist()).decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "bytes", "max_length": self.max_length}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByteTokenizer) and other.max_length == self.max_length

    def __hash__(self) -> int:
        return hash(("bytes", self.max_length))

    def __repr__(self) -> str:
        return f"ByteTokenizer(max_length={self.max_length})"


class HuggingFaceTokenizer:
    """A Hugging Face `tokenizers.Tokenizer` (pip install "eqx-multimodal[tokenizers]"),
    padded and cut to `max_length`.

    Its whole definition (`Tokenizer.to_str()`) is saved with a run, so evaluation uses
    the very same vocabulary.
    """

    def __init__(self, tokenizer: Any, *, max_length: int = 64, pad_id: int | None = None):
        """**Arguments:**

        - `tokenizer`: a `tokenizers.Tokenizer`, or the path of its `tokenizer.json`.
        - `max_length`: keyword only. Ids a text.
        - `pad_id`: keyword only. The padding id; default the tokenizer's `[PAD]` token if
            it has one, else 0.
        """
        try:
            import tokenizers  # pyright: ignore[reportMissingImports]
        except ImportError as error:
            raise ImportError(
                "HuggingFaceTokenizer needs the `tokenizers` package: pip install "
                '"eqx-multimodal[tokenizers]"'
            ) from error
        if isinstance(tokenizer, str):
            tokenizer = tokenizers.Tokenizer.from_file(tokenizer)
        if not isinstance(tokenizer, tokenizers.Tokenizer):
            raise TypeError(f"`tokenizer` must be a tokenizers.Tokenizer, got {tokenizer!r:.60}")
        self._tokenizer = tokenizer
        self._max_length = check_int(max_length, "max_length")
        if pad_id is None:
            found = tokenizer.token_to_id("[PAD]")
            pad_id = 0 if found is None else found
        self._pad_id = check_int(pad_id, "pad_id", minimum=0)

    @property
    def vocab_size(self) -> int:
        return int(self._tokenizer.get_vocab_size(with_added_tokens=True))

    @property
    def pad_id(self) -> int:
        return self._pad_id

    @property
    def max_length(self) -> int:
        return self._max_length

    def encode(self, text: str) -> tuple[np.ndarray, bool]:
        body = self._tokenizer.encode(_checked(text)).ids
        return _padded(body[: self.max_length], self.max_length, self.pad_id), (
            len(body) > self.max_length
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "huggingface",
            "max_length": self.max_length,
            "pad_id": self.pad_id,
            "definition": self._tokenizer.to_str(),
        }


def _checked(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a string, got {text!r:.60}")
    return text


def _padded(ids: Sequence[int], length: int, pad: int) -> np.ndarray:
    """`ids` (at most `length` of them) padded with `pad` to `length`, as int32."""
    out = np.full(length, pad, np.int32)
    out[: len(ids)] = ids
    return out


def tokenizer_from_dict(fields: Mapping[str, Any]) -> Tokenizer:
    """The tokenizer that `to_dict` described."""
    kind = fields.get("kind") if isinstance(fields, Mapping) else None
    if kind == "bytes":
        return ByteTokenizer(max_length=fields["max_length"])
    if kind == "huggingface":
        import tokenizers  # pyright: ignore[reportMissingImports]

        return HuggingFaceTokenizer(
            tokenizers.Tokenizer.from_str(fields["definition"]),
            max_length=fields["max_length"],
            pad_id=fields["pad_id"],
        )
    raise ValueError(f"unknown tokenizer {kind!r}; expected 'bytes' or 'huggingface'")


def tokenize(texts: Sequence[str], tokenizer: Tokenizer) -> tuple[np.ndarray, int]:
    """`(ids, truncated)`: the `(len(texts), max_length)` ids of every text, and how
    many texts were cut to fit.

    ```python
    >>> ids, truncated = tokenize(["one", "a much longer caption"], ByteTokenizer(8))
    >>> ids.shape, truncated
    ((2, 8), 1)

    ```
    """
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(
            f"`tokenizer` must be a Tokenizer (e.g. ByteTokenizer()), got {tokenizer!r}"
        )
    rows = np.zeros((len(texts), tokenizer.max_length), np.int32)
    truncated = 0
    for i, text in enumerate(texts):
        rows[i], cut = tokenizer.encode(text)
        truncated += int(cut)
    return rows, truncated
