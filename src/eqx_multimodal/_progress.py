"""A small progress bar on stderr that stays quiet when nobody is watching."""

import sys
import time
from typing import Any


class Progress:
    """`with Progress(total, "generate") as bar: bar.update(n, loss=...)`.

    Draws on `stream` (stderr) only when it is a terminal and `enabled` is true, at most
    ten times a second; otherwise it does nothing, so logs and pipes stay clean.
    """

    def __init__(
        self,
        total: int,
        description: str = "",
        *,
        unit: str = "it",
        enabled: bool = True,
        stream: Any = None,
    ):
        self.total = total
        self.description = description
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and _isatty(self.stream)
        self.done = 0
        self.postfix: dict[str, Any] = {}
        self._start = time.perf_counter()
        self._last_draw = 0.0

    def __enter__(self) -> "Progress":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    @property
    def rate(self) -> float:
        return self.done / max(self.elapsed, 1e-9)

    def update(self, n: int = 1, **postfix: Any) -> None:
        self.done += n
        self.postfix.update(postfix)
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        extra = " ".join(f"{k}={_fmt(v)}" for k, v in self.postfix.items())
        line = (
            f"\r{self.description} [{bar}] {self.done}/{self.total} "
            f"{self.rate:,.1f} {self.unit}/s {self.elapsed:.0f}s {extra}"
        )
        self.stream.write(line.rstrip() + "\x1b[K")
        self.stream.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def format_table(header: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table with aligned columns."""
    cells = [header] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
