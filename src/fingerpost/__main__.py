"""The ``fingerpost`` command line.

    fingerpost eval --routes routes.yaml --data labelled.jsonl [--fit fit.jsonl] [--plot out.png]

``routes.yaml`` is a router config (``RouterConfig.to_yaml()``; JSON works too) or a plain list
of routes; ``labelled.jsonl`` has one ``{"text": ..., "label": ... or null}`` per line, ``null``
for a turn that should route nowhere. ``--fit`` fits the router on another labelled file first
and shows both. ``--plot`` (needs ``pip install 'fingerpost[plot]'``) draws the score
distributions of in-scope and out-of-scope turns with the thresholds.

    fingerpost migrate --from semantic-router --index qdrant://host:6333/old --to qdrant://host:6333/new

copies a semantic-router 0.1.x index into fingerpost's layout (see ``fingerpost._migrate_cli``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ._exceptions import FingerpostError, InvalidInputError
from .schema import Route, RouterConfig

if TYPE_CHECKING:
    from ._evaluate import EvalReport
    from ._quality import FitReport
    from .encoders.base import DenseEncoder
    from .router import SemanticRouter

__all__ = ["main"]

PLOT_HINT = "--plot needs matplotlib: pip install 'fingerpost[plot]'"


class CliError(Exception):
    """A problem to report in one line, with an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "eval":
            return _eval(args)
        if args.command == "migrate":
            from ._migrate_cli import run

            return run(args)
    except CliError as exc:
        print(f"fingerpost: {exc}", file=sys.stderr)
        return exc.status
    except FingerpostError as exc:
        print(f"fingerpost: {exc}", file=sys.stderr)
        return 1
    parser.print_help()
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fingerpost", description="A local semantic router.")
    sub = parser.add_subparsers(dest="command")
    ev = sub.add_parser(
        "eval",
        help="routing quality on a labelled set",
        description="In-scope accuracy, out-of-scope recall and precision, and the worst routes.",
    )
    ev.add_argument("--routes", required=True, type=Path, help="router config or list of routes (YAML/JSON)")
    ev.add_argument("--data", required=True, type=Path, help='JSONL: {"text": ..., "label": ... or null}')
    ev.add_argument("--fit", type=Path, help="fit on this JSONL first (same format), then evaluate")
    ev.add_argument("--plot", type=Path, help="write score distributions and thresholds to this image")
    ev.add_argument(
        "--encoder", choices=["default", "hash"], default="default",
        help="default: the ONNX model; hash: the deterministic test encoder (no model)",
    )
    ev.add_argument("--objective", choices=["balanced", "accuracy"], default="balanced", help="what --fit maximises")
    ev.add_argument("--worst", type=int, default=10, help="how many of the worst routes to list")
    from ._migrate_cli import add_parser

    add_parser(sub)  # fingerpost migrate --from semantic-router --index ... --to ...
    return parser


# ---- eval ----------------------------------------------------------------------------------
def _eval(args: argparse.Namespace) -> int:
    if args.plot is not None:
        _require_matplotlib()
    texts, labels = read_labelled(args.data)
    fit_rows = read_labelled(args.fit) if args.fit is not None else None
    router = load_router(args.routes, args.encoder)
    from ._evaluate import evaluation_report

    reports: list[tuple[str, EvalReport]] = [("as configured", evaluation_report(router, texts, labels))]
    fit_report = None
    if fit_rows is not None:
        fit_report = router.fit(*fit_rows, objective=args.objective)
        reports.append(("fitted", evaluation_report(router, texts, labels)))
    print(render(reports, fit_report, args.worst, encoder_name=router.encoder.name))
    if args.plot is not None:
        plot_scores(router, texts, labels, args.plot)
        print(f"\nplot written to {args.plot}")
    return 0


def read_labelled(path: Path) -> tuple[list[str], list[str | None]]:
    """Read ``{"text": ..., "label": ...}`` lines; blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc}") from exc
    texts: list[str] = []
    labels: list[str | None] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CliError(f"{path}:{number}: not JSON: {exc}") from exc
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise CliError(f'{path}:{number}: expected {{"text": str, "label": str or null}}')
        label = row.get("label")
        if label is not None and not isinstance(label, str):
            raise CliError(f"{path}:{number}: label must be a string or null")
        texts.append(row["text"])
        labels.append(label)
    if not texts:
        raise CliError(f"{path}: no labelled turns")
    return texts, labels


def load_router(path: Path, encoder_kind: str) -> SemanticRouter:
    """A router from a config file, or from a file holding a plain list of routes."""
    from .router import SemanticRouter

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise CliError(f"{path}: not YAML/JSON: {exc}") from exc
    if isinstance(data, list):
        routes = [_route(item, path) for item in data]
        return SemanticRouter(routes=routes, encoder=_encoder(encoder_kind, None))
    if isinstance(data, dict):
        config = RouterConfig.from_dict(data)
        return SemanticRouter.from_config(config, encoder=_encoder(encoder_kind, config.encoder_dim))
    raise CliError(f"{path}: expected a router config (mapping with 'routes') or a list of routes")


def _route(item: Any, path: Path) -> Route:
    if not isinstance(item, dict):
        raise CliError(f"{path}: every route must be a mapping with 'name' and 'utterances'")
    try:
        return Route(**item)
    except InvalidInputError as exc:
        raise CliError(f"{path}: {exc}") from exc


def _encoder(kind: str, dim: int | None) -> DenseEncoder:
    if kind == "hash":
        from .encoders.testing import HashEncoder

        return HashEncoder(dim=dim or 128)
    from .encoders.onnx import OnnxEncoder

    return OnnxEncoder()


# ---- rendering -----------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _md(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


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
                [name, _pct(r.in_scope_accuracy), _pct(r.oos_recall), _pct(r.oos_precision), _pct(r.accuracy)]
                for name, r in reports
            ],
        ),
    ]
    if fit is not None:
        thr = sorted(fit.thresholds.values())
        out += [
            "",
            f"fit ({fit.objective}, {fit.validation}): head weight {fit.head_weight:g}"
            + (f", temperature {fit.temperature:g}, L2 {fit.l2:.2g}" if fit.l2 is not None else "")
            + f"; thresholds {thr[0]:.3f}..{thr[-1]:.3f}; held-out objective "
            f"{fit.before:.3f} -> {fit.after:.3f}; {fit.seconds:.1f} s",
        ]
    name, last = reports[-1]
    rows = [
        [route, str(n), str(ok), _pct(ok / n), "(no route)" if wrong is None and ok < n else (wrong or "")]
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
def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ModuleNotFoundError as exc:
        raise CliError(PLOT_HINT, status=2) from exc


def plot_scores(router: SemanticRouter, texts: list[str], labels: list[str | None], path: Path) -> None:
    """Histogram of each turn's best route score, in scope vs out of scope, with thresholds."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError as exc:
        raise CliError(PLOT_HINT, status=2) from exc
    import numpy as np

    from ._evaluate import route_scores

    _, scores, thresholds = route_scores(router, router._encode(texts))
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
            ax.axvspan(lo, hi, color="grey", alpha=0.15, label=f"route thresholds {lo:.2f}..{hi:.2f}")
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


if __name__ == "__main__":
    sys.exit(main())
