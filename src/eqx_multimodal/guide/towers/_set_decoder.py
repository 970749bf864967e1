"""The set towers' image decoder: a set of candidate gratings and a draw of which
grating takes which candidate.

Where a source gives the target's parts as an unordered set (on the guide's data a clip
gives its latents as a set of tones; which grating takes which latent is open), a
decoder that regresses pixels averages over the assignments into a blur that matches
no source. `GratingSetDecoder` instead predicts the set, `num_candidates` grating
coefficient vectors, trained by a one-to-one matching of the target's gratings to them
(a set-prediction loss: the Hungarian algorithm, `scipy.optimize.linear_sum_assignment`,
picks the matching; the loss is the matched squared error), and a categorical over
which candidate each grating takes, drawn without replacement, so that every sample is
one valid assignment and `K` keys give `K` of them.

The targets are observation-only: each image's ridge least-squares coefficients on the
gratings' four products (`grating_tables`), a linear map of its pixels, normalised by
their root mean square (the image is min-max normalised, so its scale is not known).
The plain least-squares solve is ill-conditioned (at 32 x 32 the Gram matrix's smallest
eigenvalues are 0.0017 against 703), and its coefficients are mostly noise in those
directions; the ridge damps them. The ridge also shrinks each grating by its own amount
and leaks between them, so the candidates, which stand for a clip's tones whichever
grating takes them, are compared with the targets through that shrinkage (`loss`).
"""

import functools
from collections.abc import Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import scipy.optimize
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ..._types import Image
from ..._validation import check_int, check_real, check_shape
from ...nn._base import AbstractDecoder, check_sampling
from ._fits import grating_tables
from ._signal import check_frequencies, GUIDE_FREQUENCIES


#: Rematchings of each grating on its target less what the others leak into it.
_REFINEMENTS = 2

Condition = Float[Array, " d_in"]
Candidates = Float[Array, "candidates 4"]
SlotLogits = Float[Array, "gratings candidates"]


def _linear_sum_assignment(cost: Any) -> np.ndarray:
    cost = np.asarray(cost)
    columns = np.zeros(cost.shape[:-1], np.int32)
    for index in np.ndindex(cost.shape[:-2]):
        _, columns[index] = scipy.optimize.linear_sum_assignment(cost[index])
    return columns


@functools.cache
def _ridge_solve(
    height: int, width: int, frequencies: tuple[float, ...], ridge: float
) -> tuple[np.ndarray, np.ndarray]:
    """`(G + r I)^-1 B`, `(K*4, H*W)`: the ridge least-squares coefficients of a centred
    image on the grating products `B` (Gram matrix `G`), `r` being `ridge` times the mean
    diagonal of `G`; and the ridge's effect on an image's true coefficients, `S = (G +
    r I)^-1 G`, `(K*4, K*4)` (what the solve returns of a noise-free image made of them).
    Solved once, in float64."""
    basis, gram, _, _ = grating_tables(height, width, frequencies, 2)
    flat = basis.astype(np.float64)
    gram = gram.reshape(flat.shape[0], flat.shape[0]).astype(np.float64)
    regularised = gram + ridge * np.mean(np.diag(gram)) * np.eye(gram.shape[0])
    solve = np.linalg.solve(regularised, flat).astype(np.float32)
    return solve, np.linalg.solve(regularised, gram).astype(np.float32)


def matching(cost: Float[Array, "rows columns"]) -> Int[Array, " rows"]:
    """For each row, its column in a one-to-one matching of least total cost (rows <=
    columns): `scipy.optimize.linear_sum_assignment` through `jax.pure_callback`, so it
    runs under `jit` and `vmap` (batched, it solves each matrix in turn). No gradient.

    ```python
    >>> import jax.numpy as jnp
    >>> matching(jnp.array([[5.0, 1.0, 9.0], [1.0, 2.0, 9.0]])).tolist()
    [1, 0]

    ```
    """
    if cost.ndim != 2 or cost.shape[0] > cost.shape[1]:
        raise ValueError(f"`cost` must be (rows, columns) with rows <= columns, got {cost.shape}")
    cost = jax.lax.stop_gradient(cost)
    shape = jax.ShapeDtypeStruct(cost.shape[:-1], jnp.int32)
    return jax.pure_callback(_linear_sum_assignment, shape, cost, vmap_method="expand_dims")


class GratingSetDecoder(AbstractDecoder):
    """From the condition, `num_candidates` candidate gratings and, for each of the
    image's gratings, a categorical over them; an image is the gratings' coefficients
    drawn without replacement from the candidates, rendered through the grating basis
    and min-max normalised to [0, 1] (the same in every channel, as the guide's).

    Trained by `loss`: the candidates by a one-to-one matching of the target's gratings
    to them (the matched squared error), the categoricals by the likelihood of that
    matching. `greedy=True` takes each grating's most likely candidate in turn.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> decoder = GratingSetDecoder(8, (16, 16, 3), hidden=16, key=jr.key(0))
    >>> decoder(jnp.zeros(8), key=jr.key(1)).shape
    (16, 16, 3)

    ```
    """

    candidates: eqx.nn.MLP
    slots: eqx.nn.MLP
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    d_in: int = eqx.field(static=True)
    frequencies: tuple[float, ...] = eqx.field(static=True)
    num_candidates: int = eqx.field(static=True)
    ridge: float = eqx.field(static=True)
    modality: ClassVar[str] = "image"
    samples_itself: ClassVar[bool] = True

    def __init__(
        self,
        d_in: int,
        image_shape: Sequence[int],
        *,
        num_candidates: int = 10,
        frequencies: Sequence[float] = GUIDE_FREQUENCIES,
        hidden: int = 512,
        ridge: float = 0.04,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `d_in`: the size of the conditioning vector.
        - `image_shape`: `(height, width, channels)` of the output.
        - `num_candidates`: keyword only. Candidate gratings, at least the number of
            gratings (the guide's clips have 10 tones for 8 gratings).
        - `frequencies`: keyword only. The gratings' frequencies (the guide's).
        - `hidden`: keyword only. The width of the two MLPs.
        - `ridge`: keyword only. >= 0. The targets' ridge, relative to the mean diagonal
            of the gratings' Gram matrix.
        - `key`: keyword only. The key of the initialisation.
        """
        self.d_in = check_int(d_in, "d_in")
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        self.frequencies = check_frequencies(frequencies)
        self.num_candidates = check_int(
            num_candidates, "num_candidates", minimum=len(self.frequencies)
        )
        self.ridge = check_real(ridge, "ridge", low=0.0)
        check_int(hidden, "hidden")
        candidate_key, slot_key = jr.split(key)
        gratings = len(self.frequencies)
        self.candidates = eqx.nn.MLP(
            d_in, 4 * self.num_candidates, hidden, 3, activation=jax.nn.gelu, key=candidate_key
        )
        self.slots = eqx.nn.MLP(
            d_in,
            gratings * self.num_candidates,
            hidden // 2,
            2,
            activation=jax.nn.gelu,
            key=slot_key,
        )

    def coefficients(self, image: Image) -> Float[Array, "gratings 4"]:
        """The training target of an image: its ridge least-squares coefficients on the
        gratings' four products, divided by their root mean square."""
        if image.shape != self.image_shape:
            raise ValueError(f"`image` must have shape {self.image_shape}, got {image.shape}")
        height, width, _ = self.image_shape
        solve, _ = _ridge_solve(height, width, self.frequencies, self.ridge)
        gray = jnp.mean(image, axis=-1)
        solved = jnp.asarray(solve) @ (gray - jnp.mean(gray)).reshape(-1)
        return (solved / jnp.sqrt(jnp.mean(solved**2) + 1e-12)).reshape(-1, 4)

    def render(self, coefficients: Float[Array, "gratings 4"]) -> Image:
        """The image of the gratings' coefficients, min-max normalised to [0, 1]."""
        height, width, _ = self.image_shape
        basis, _, _, _ = grating_tables(height, width, self.frequencies, 2)
        gray = (jnp.asarray(basis).T @ coefficients.reshape(-1)).reshape(height, width)
        low, high = jnp.min(gray), jnp.max(gray)
        gray = jnp.clip((gray - low) / (high - low + 1e-8), 0.0, 1.0)
        return jnp.broadcast_to(gray[:, :, None], self.image_shape)

    def heads(self, condition: Condition) -> tuple[Candidates, SlotLogits]:
        """The candidates `(num_candidates, 4)` and each grating's logits over them."""
        candidates = self.candidates(condition).reshape(self.num_candidates, 4)
        logits = self.slots(condition).reshape(len(self.frequencies), self.num_candidates)
        return candidates, logits

    def teacher_output(self, condition: Condition, target: Image) -> tuple[Candidates, SlotLogits]:
        """What `loss` reads: `heads(condition)`."""
        del target
        return self.heads(condition)

    def loss(self, output: tuple[Candidates, SlotLogits], target: Image) -> Float[Array, ""]:
        """The matched squared error of the candidates plus the mean negative
        log-likelihood of the matching under the draw without replacement.

        The candidates are an image's true coefficients, the same whichever grating
        takes them; the target's are ridge estimates, shrunk by `S` by a different
        amount at each frequency (0.61 to 0.91 at 32 x 32) and leaking between gratings.
        So the candidates are compared through `S`: the matching on each grating's own
        block of it, then refined twice on each grating's target less what the others'
        matched candidates leak into it; the error of the matched set through the whole
        of `S`. (Compared directly, a candidate became the tone as one grating shows it,
        and only the order it was matched in rendered it right: on the default run,
        greedy audio->image R@10 0.500 in that order against 0.404 in a random one;
        through `S`, 0.683 and 0.662, `research/grating_sampler`.) Along the directions
        where `S` is near zero (those of the Gram matrix's smallest eigenvalues) a
        candidate gets almost no gradient; they are the directions a render barely shows
        (`B^T v` has norm `sqrt(g)` for an eigenvalue `g`), so what stays there of the
        initialisation changes an image little."""
        candidates, logits = output
        wanted = self.coefficients(target)
        height, width, _ = self.image_shape
        _, shrink = _ridge_solve(height, width, self.frequencies, self.ridge)
        gratings = jnp.arange(wanted.shape[0])
        whole = jnp.asarray(shrink).reshape(len(gratings), 4, len(gratings), 4)
        blocks = whole[gratings, :, gratings, :]  # (gratings, 4, 4): each grating's own
        leaks = whole.at[gratings, :, gratings, :].set(0.0)  # grating h seen at grating g
        seen = jnp.einsum("gkl,cl->gck", blocks, candidates)  # candidate c at grating g
        chosen = matching(jnp.mean((wanted[:, None, :] - seen) ** 2, axis=-1))
        for _ in range(_REFINEMENTS):  # each grating's target less what the others leak
            own = wanted - jnp.einsum("gkhl,hl->gk", leaks, candidates[chosen])
            chosen = matching(jnp.mean((own[:, None, :] - seen) ** 2, axis=-1))
        rendered = jnp.asarray(shrink) @ candidates[chosen].reshape(-1)
        matched = jnp.mean((wanted.reshape(-1) - rendered) ** 2)
        picks = jax.nn.one_hot(chosen, self.num_candidates, dtype=jnp.int32)
        used = (jnp.cumsum(picks, axis=0) - picks) > 0  # taken by a grating before k
        masked = jnp.where(used, -jnp.inf, logits)
        nll = -jnp.mean(jax.nn.log_softmax(masked, axis=-1)[gratings, chosen])
        return matched + nll

    def __call__(
        self,
        condition: Condition,
        *,
        key: PRNGKeyArray | None = None,
        greedy: bool = False,
        temperature: float = 1.0,
    ) -> Image:
        """One image, `(height, width, channels)` in [0, 1]: each grating in turn takes a
        candidate not yet taken, drawn from its logits divided by `temperature` (needs
        `key`), or the most likely one (`greedy=True`)."""
        check_sampling(key, greedy, "GratingSetDecoder")
        candidates, logits = self.heads(condition)
        return self.render(candidates[_draw(logits, key, greedy, temperature)])

    def assignment(
        self,
        condition: Condition,
        *,
        key: PRNGKeyArray | None = None,
        greedy: bool = False,
        temperature: float = 1.0,
    ) -> Int[Array, " gratings"]:
        """Which candidate each grating takes (all distinct), as `__call__` draws them."""
        check_sampling(key, greedy, "GratingSetDecoder")
        _, logits = self.heads(condition)
        return _draw(logits, key, greedy, temperature)


def _draw(
    logits: SlotLogits, key: PRNGKeyArray | None, greedy: bool, temperature: float
) -> Int[Array, " gratings"]:
    """Each row (grating) in turn takes a column (candidate) not yet taken: drawn from its
    logits divided by `temperature`, or the most likely (`greedy`)."""
    keys = jr.split(jr.key(0) if key is None else key, logits.shape[0])

    def pick(used, inputs):
        row, row_key = inputs
        free = jnp.where(used, -jnp.inf, row)
        choice = jnp.argmax(free) if greedy else jr.categorical(row_key, free / temperature)
        return used.at[choice].set(True), choice

    _, chosen = jax.lax.scan(pick, jnp.zeros(logits.shape[1], bool), (logits, keys))
    return chosen
