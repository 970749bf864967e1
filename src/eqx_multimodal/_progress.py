"""What a long run says while it works: a tqdm bar on a terminal, a plain line every
few seconds elsewhere (logs, CI, `nohup`), and nothing with `--quiet`.

Long phases without steps to count (compiling, building a gallery, evaluating) are
announced by `phase`, which repeats its line with the elapsed time while the phase
lasts, so that a log never goes silent for minutes.
"""

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from tqdm import tqdm


#: Seconds between the plain progress lines written when the stream is not a terminal.
INTERVAL = 10.0


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Lines:
    """A file for tqdm that turns its carriage-return redraws into whole lines."""

    def __init__(self, stream: Any):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress(
    total: int, description: str, *, unit: str = "it", enabled: bool = True, initial: int = 0
) -> tqdm:
    """A tqdm bar on stderr: redrawn in place on a terminal, a line every `INTERVAL`
    seconds elsewhere, silent when not `enabled`.

    `bar.set_postfix(loss=...)` adds values; `bar.update(n)` counts.
    """
    stream = sys.stderr
    terminal = _isatty(stream)
    return tqdm(
        total=total,
        initial=initial,
        desc=description,
        unit=unit,
        disable=not enabled,
        file=stream if terminal else _Lines(stream),
        mininterval=0.1 if terminal else INTERVAL,
        maxinterval=INTERVAL,
        dynamic_ncols=terminal,
        ncols=None if terminal else 100,
        ascii=not terminal,
        leave=True,
    )


@contextlib.contextmanager
def phase(message: str, *, enabled: bool = True) -> Iterator[None]:
    """Say `message` on stderr, repeat it with the elapsed time every `INTERVAL` seconds
    while the block runs, and say how long it took when it took more than a second."""
    if not enabled:
        yield
        return
    stream = sys.stderr
    start = time.perf_counter()
    stream.write(f"{message} ...\n")
    stream.flush()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(INTERVAL):
            stream.write(f"{message} ... {time.perf_counter() - start:.0f} s\n")
            stream.flush()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    elapsed = time.perf_counter() - start
    if elapsed > 1.0:
        stream.write(f"{message}: done in {elapsed:.0f} s\n")
        stream.flush()
