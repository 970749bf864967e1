"""The one guard on sizes that a folder's files imply.

A folder's files set the model's shapes: the longest caption its text length, the
largest token id its vocabulary, an image's header its pixels. A damaged or hostile file
(a 1 MB caption, a token id of 2**31 - 1, a PNG whose header claims 60000x60000) would
otherwise ask for terabytes far from the file that caused it. Each limit is checked
where the file is read, and the error names the file (and line).
"""

#: Token ids a folder may use: its vocabulary is at most this large (the model's
#: embedding table has one row an id).
MAX_VOCAB = 2**20
#: Ids a text may have, as tokens in `text.jsonl` or through a tokenizer.
MAX_TEXT_LENGTH = 4096
#: Without a tokenizer (or `--max-text-length`), captions are cut to this many ids (the
#: cut ones are counted and reported, as `--max-text-length` does).
DEFAULT_TEXT_CAP = 512
#: Samples an audio clip may have (about 17 minutes at 16 kHz).
MAX_AUDIO_SAMPLES = 2**24
#: Pixels an image may have (its header is checked before anything is decoded).
MAX_PIXELS = 2**26


def check_token_row(tokens: object, where: str) -> list[int]:
    """A line's `tokens`: a non-empty list of at most `MAX_TEXT_LENGTH` integer ids in
    `[0, MAX_VOCAB)`."""
    if not isinstance(tokens, list) or not tokens:
        raise ValueError(f"{where}: 'tokens' must be a non-empty list of non-negative integers")
    if len(tokens) > MAX_TEXT_LENGTH:
        raise ValueError(
            f"{where}: {len(tokens):,} tokens, more than the {MAX_TEXT_LENGTH:,} a text may have"
        )
    for token in tokens:
        if isinstance(token, bool) or not isinstance(token, int):
            raise ValueError(
                f"{where}: 'tokens' must be a non-empty list of non-negative integers, got "
                f"{token!r:.30}"
            )
        if token < 0:
            raise ValueError(
                f"{where}: 'tokens' must be a non-empty list of non-negative integers, got {token}"
            )
        if token >= MAX_VOCAB:
            raise ValueError(
                f"{where}: token {token:,} is above the largest id a folder may use, "
                f"{MAX_VOCAB - 1:,} (a vocabulary of at most {MAX_VOCAB:,})"
            )
    return tokens


def check_pixels(width: int, height: int, where: str) -> None:
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"{where}: {width}x{height} pixels, more than the {MAX_PIXELS:,} an image may have"
        )
