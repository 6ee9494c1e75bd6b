"""What ``fingerpost eval`` prints (markdown tables) and draws (score distributions)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import EXIT_USAGE, CliError

if TYPE_CHECKING:
    from ..quality._evaluate import EvalReport
    from ..quality._quality import FitReport
    from ..router import SemanticRouter

__all__ = ["PLOT_HINT", "fit_summary", "plot_scores", "render", "require_matplotlib"]

PLOT_HINT = "--plot needs matplotlib: pip install 'fingerpost[plot]'"


# ---- rendering -----------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _md(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def fit_summary(fit: FitReport) -> str:
    """One line: what a fit chose and how it did on held-out rows."""
    thr = sorted(fit.thresholds.values())
    span = f"{thr[0]:.3f}..{thr[-1]:.3f}" if thr else "-"
    return (
        f"fit ({fit.objective}, {fit.validation}): head weight {fit.head_weight:g}"
        + (f", temperature {fit.temperature:g}, L2 {fit.l2:.2g}" if fit.l2 is not None else "")
        + f"; thresholds {span}; held-out objective "
        f"{fit.before:.3f} -> {fit.after:.3f}; {fit.seconds:.1f} s"
    )


def render(
    reports: Sequence[tuple[str, EvalReport]],
    fit: FitReport | None,
    worst: int,
    *,
    encoder_name: str,
) -> str:
    """The tables ``fingerpost eval`` prints (markdown)."""
    first = reports[0][1]
    out = [
        f"{first.n} turns ({first.n_in_scope} in scope, {first.n_out_of_scope} out of scope), "
        f"encoder {encoder_name}",
        "",
        _md(
            ["router", "in-scope accuracy", "OOS recall", "OOS precision", "accuracy"],
            [
                [
                    name,
                    _pct(r.in_scope_accuracy),
                    _pct(r.oos_recall),
                    _pct(r.oos_precision),
                    _pct(r.accuracy),
                ]
                for name, r in reports
            ],
        ),
    ]
    if fit is not None:
        out += ["", fit_summary(fit)]
    name, last = reports[-1]
    rows = [
        [
            route,
            str(n),
            str(ok),
            _pct(ok / n),
            "(no route)" if wrong is None and ok < n else (wrong or ""),
        ]
        for route, n, ok, wrong in last.worst_routes(worst)
    ]
    if rows:
        out += [
            "",
            f"worst {len(rows)} routes ({name}):",
            "",
            _md(["route", "turns", "correct", "accuracy", "most frequent wrong answer"], rows),
        ]
    return "\n".join(out)


# ---- plotting ------------------------------------------------------------------------------
def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ModuleNotFoundError as exc:
        raise CliError(PLOT_HINT, EXIT_USAGE) from exc


def plot_scores(
    router: SemanticRouter, texts: list[str], labels: list[str | None], path: Path
) -> None:
    """Histogram of each turn's best route score, in scope vs out of scope, with thresholds."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError as exc:
        raise CliError(PLOT_HINT, EXIT_USAGE) from exc
    import numpy as np

    from ..quality._evaluate import route_scores

    _, scores, thresholds = route_scores(router._fit_target, router._encode(texts))
    best = scores.max(axis=1) if scores.shape[1] else np.zeros(len(texts), np.float32)
    in_scope = np.array([label is not None for label in labels])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    lo_edge = float(min(best.min(), thresholds.min(initial=1.0))) - 0.02
    hi_edge = float(max(best.max(), thresholds.max(initial=0.0))) + 0.02
    bins = np.linspace(lo_edge, hi_edge, 50).tolist()
    ax.hist(best[in_scope], bins=bins, alpha=0.6, label=f"in scope ({int(in_scope.sum())})")
    ax.hist(best[~in_scope], bins=bins, alpha=0.6, label=f"out of scope ({int((~in_scope).sum())})")
    if thresholds.size:
        lo, mid, hi = float(thresholds.min()), float(np.median(thresholds)), float(thresholds.max())
        if hi - lo > 1e-9:
            ax.axvspan(
                lo, hi, color="grey", alpha=0.15, label=f"route thresholds {lo:.2f}..{hi:.2f}"
            )
        ax.axvline(mid, color="black", linestyle="--", label=f"threshold (median) {mid:.3f}")
    ax.set_xlabel("best route score")
    ax.set_ylabel("turns")
    ax.set_title("fingerpost: best route score per turn")
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc}") from exc
    finally:
        plt.close(fig)
