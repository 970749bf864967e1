"""The roles every module of `eqx_multimodal.nn` plays: an encoder maps one example of
its modality to an embedding; a decoder maps a conditioning vector to one example.

Each concrete class is final: it subclasses one of these abstract bases and nothing
else subclasses it (Equinox's abstract-or-final pattern).
"""

import abc
from typing import ClassVar

import equinox as eqx
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from .._types import Embedding


class AbstractEncoder(eqx.Module):
    """One example of `modality` in, one `(d_model,)` embedding out (callers vmap).

    Subclasses define `modality` (`"image"`, `"text"` or `"audio"`, or any name for
    modality-agnostic encoders) and `d_model`, and `__call__(x, *, key=None)`; a
    deterministic encoder ignores `key`.
    """

    modality: eqx.AbstractVar[str]
    d_model: eqx.AbstractVar[int]
    #: Whether the shared-latent model's linear head onto the latent has a bias: False
    #: for an encoder that learns its own constant (the guide's text towers).
    head_bias: ClassVar[bool] = True

    @abc.abstractmethod
    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Embedding:
        """**Arguments:**

        - `x`: one example of the modality.
        - `key`: keyword only. Randomness, for encoders that use it (dropout).

        **Returns:**

        The embedding, `(d_model,)`.
        """
        raise NotImplementedError


class AbstractDecoder(eqx.Module):
    """A conditioning vector `(d_in,)` in, one example of `modality` out.

    `teacher_output(condition, target)` is what the training loss compares with the
    target (the reconstruction itself, or next-token logits for text); the losses of
    `eqx_multimodal.losses` turn it into the loss that fits the modality.

    A decoder that samples (text) needs a `key`, or `greedy=True` for the most likely
    output; called with neither it raises, as `eqx.nn.Dropout` does without its key. It
    samples at `temperature` (its logits divided by it: below 1 nearer its most likely
    output). Deterministic decoders (image, audio) accept and ignore all three.
    """

    modality: eqx.AbstractVar[str]
    d_in: eqx.AbstractVar[int]
    #: Whether the decoder's own draw holds all of the target's uncertainty (a draw of
    #: which part takes which element of a predicted set). A `ModalityGenerator` then
    #: gives it no VAE latent (`z = 0`, no KL term): trained with one, it learns to read
    #: the target from the posterior's `z`, which generation, drawing from the prior,
    #: does not have.
    samples_itself: ClassVar[bool] = False

    @abc.abstractmethod
    def __call__(
        self,
        condition: Float[Array, " d_in"],
        *,
        key: PRNGKeyArray | None = None,
        greedy: bool = False,
        temperature: float = 1.0,
    ) -> Array:
        """**Arguments:**

        - `condition`: the conditioning vector, `(d_in,)`.
        - `key`: keyword only. The randomness of a sampling decoder.
        - `greedy`: keyword only. The most likely output instead of a sample.
        - `temperature`: keyword only. > 0; how wide a sampling decoder samples.

        **Returns:**

        One example of the modality.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def teacher_output(self, condition: Float[Array, " d_in"], target: Array) -> PyTree[Array]:
        """What the training loss compares with `target`, given the true target (teacher
        forcing): the output itself, or next-token logits for text (any PyTree, which
        its `loss` reads)."""
        raise NotImplementedError

    def loss(self, output: PyTree[Array], target: Array) -> Float[Array, ""] | None:
        """The decoder's own training loss of `output` (its `teacher_output`) against
        `target`, or `None` (the default): the loss of its modality in
        `eqx_multimodal.losses` (`reconstruction_loss`). A decoder that does not make
        its output in the target's own space (a spectrogram, a set of candidates)
        defines it."""
        del output, target
        return None


def check_sampling(key: PRNGKeyArray | None, greedy: bool, what: str) -> None:
    """A sampling decoder needs a key, unless greedy decoding is asked for."""
    if key is None and not greedy:
        raise ValueError(
            f"{what} samples: pass `key=` to sample, or `greedy=True` for the most likely output"
        )
