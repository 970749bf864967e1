"""Plain-text tables of results, as the subcommands print them."""

from typing import Any


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(header: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table with aligned columns.

    ```python
    >>> print(format_table(["a", "b"], [[1, 0.5], [10, 2.25]]))
    a   b
    --  ----
    1   0.5
    10  2.25

    ```
    """
    cells = [header] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def retrieval_table(result: dict[str, Any]) -> str:
    """The retrieval results of `training.evaluate` as a table, with what they were
    measured on, label-level results and zero-shot accuracy when present."""
    gallery = result["gallery"]
    ceiling = result.get("ceiling", {})
    two_tower = result.get("retrieval_two_tower", {})
    header = ["retrieval", "R@1", "R@5", "R@10", "median rank"]
    if two_tower:
        header += ["two-tower R@1", "two-tower R@10"]
    if ceiling:
        header += ["ceiling R@1", "ceiling R@10"]
    rows = []
    for pair, m in result["retrieval"].items():
        row = [
            pair,
            f"{m['recall@1']:.3f}",
            f"{m['recall@5']:.3f}",
            f"{m['recall@10']:.3f}",
            f"{m['median_rank']:g}",
        ]
        for extra in (e for e in (two_tower, ceiling) if e):
            got = extra.get(pair)
            row += (
                ["-", "-"] if got is None else [f"{got[k]:.3f}" for k in ("recall@1", "recall@10")]
            )
        rows.append(row)
    table = format_table(header, rows)
    where = f"held-out gallery of {gallery}"
    if "alignment" in result:
        where += f" at alignment {result['alignment']:g}"
    lines = [f"{where} (chance R@1 {1 / max(gallery, 1):.3f})", table]
    if "label_retrieval" in result:
        labelled = [
            [pair, f"{m['precision@1']:.3f}", m["queries"]]
            for pair, m in result["label_retrieval"].items()
        ]
        lines += ["", format_table(["same label", "P@1", "queries"], labelled)]
    if "zero_shot" in result:
        shots = ", ".join(f"{m} {v:.3f}" for m, v in result["zero_shot"].items())
        lines.append(f"zero-shot accuracy from the label names: {shots}")
    recon = ", ".join(f"{k} {v:.4g}" for k, v in result.get("reconstruction", {}).items())
    if recon:
        items = result.get("reconstruction_items")
        lines.append(f"reconstruction loss (first {items} items): {recon}")
    return "\n".join(lines)


def generation_table(result: dict[str, Any]) -> str:
    """The generation measures of `evaluate` on a generation run as tables."""
    parts = []
    coherence = result.get("coherence", {})
    if coherence:
        rows = [
            [name, v["accuracy"], v.get("greedy_accuracy", float("nan")), v["judge_on_real"]]
            for name, v in coherence.items()
        ]
        header = ["coherence", "samples", "greedy", "judge on real"]
        parts.append(format_table(header, rows))
    fidelity, diversity = result.get("fidelity", {}), result.get("diversity", {})
    if fidelity:
        rows = []
        for name, v in fidelity.items():
            d = diversity.get(name, {})
            rows.append(
                [
                    name,
                    v["frechet"],
                    v["frechet_real"],
                    d.get("diversity", float("nan")),
                    d.get("real_diversity", float("nan")),
                ]
            )
        header = ["generated", "Frechet", "Frechet real/real", "diversity", "real diversity"]
        parts.append(format_table(header, rows))
    reference = result.get("reference_coherence")
    if reference:
        rows = [
            [name, v.get("recall@1"), v.get("recall@10"), v.get("ceiling_recall@10")]
            for name, v in reference.items()
        ]
        parts.append(format_table(["reference coherence", "R@1", "R@10", "ceiling R@10"], rows))
    elif reference is not None:  # measured, and nothing to give
        parts.append(
            "reference coherence: none (the guide's scorers measure the directions between "
            "its image, text and audio, and this run generates none of them)"
        )
    return "\n\n".join(parts)
