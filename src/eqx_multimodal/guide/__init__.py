"""The guide: a client of the core. Its synthetic data's re-ranker, observation-only
ceilings and reference coherence, built on the core's seams (`training.AbstractReranker`,
`training.AbstractDataSource`)."""

from ._rerank import SetReranker as SetReranker
