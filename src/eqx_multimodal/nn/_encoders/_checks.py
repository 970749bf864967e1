from jaxtyping import Array


def check_example(x: Array, shape: tuple[int, ...], what: str) -> None:
    """One example of the expected shape, or a ValueError naming both shapes."""
    if x.shape != tuple(shape):
        raise ValueError(f"expected one {what} of shape {tuple(shape)}, got shape {x.shape}")
