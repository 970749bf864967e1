"""Property-based testing of multi-modal code with hypothesis: strategies that draw the
library's data and configurations, and checks of the contract every module keeps.

`pip install "eqx-multimodal[testing]"` (hypothesis). Use them in your own tests:

```python
from hypothesis import given
from eqx_multimodal import testing

@given(config=testing.synthetic_configs(), seed=testing.seeds())
def test_my_encoder_takes_any_image(config, seed):
    ...
```
"""

try:
    import hypothesis as _hypothesis  # noqa: F401
except ImportError as _error:  # pragma: no cover - exercised without hypothesis
    raise ImportError(
        'eqx_multimodal.testing needs hypothesis: pip install "eqx-multimodal[testing]"'
    ) from _error

from ._checks import (
    check_fusion as check_fusion,
    check_module as check_module,
    tree_allclose as tree_allclose,
)
from ._strategies import (
    alignments as alignments,
    batches as batches,
    FREE_SIZES as FREE_SIZES,
    invalid_configs as invalid_configs,
    latents as latents,
    modality_items as modality_items,
    paired_datasets as paired_datasets,
    presence_masks as presence_masks,
    samples as samples,
    seeds as seeds,
    synthetic_configs as synthetic_configs,
    texts as texts,
    without_type_checks as without_type_checks,
)
