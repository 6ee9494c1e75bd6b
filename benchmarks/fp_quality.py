"""Routing quality on CLINC150 (issue: fit/evaluate): fingerpost unfitted vs fitted.

Routes come from `train` (150 intents x 100 utterances); `fit` sees `val` + `oos_val` only;
every number is measured on `test` + `oos_test` (4,500 in scope, 1,000 out of scope), which
nothing was tuned on. Vectors by the default model are cached (benchmarks/results/), so the
fit time below is the fitting itself; encoding the 3,100 fit turns is reported apart.

    .venv/bin/python benchmarks/fp_quality.py
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _data import CACHE, HERE, CachedEncoder, cached_encoder, clinc, clinc_routes, table

from fingerpost import SemanticRouter
from fingerpost.encoders import OnnxEncoder
from fingerpost.quality._evaluate import EvalReport, evaluation_report, route_scores

FIT_CACHE = HERE / "results" / "clinc_fit_vectors.npz"


def _with_fit_vectors(model: OnnxEncoder, cached: CachedEncoder, data: dict[str, Any]) -> float:
    """Add val/oos_val vectors to the cache (computed once, saved beside the main cache).
    Returns the seconds encoding took (0 when they came from disk)."""
    texts = sorted({t for k in ("val", "oos_val") for t, _ in data[k]})
    if FIT_CACHE.exists():
        z = np.load(FIT_CACHE, allow_pickle=False)
        if z["name"].item() == model.name and len(z["texts"]) == len(texts):
            cached.table.update(zip(z["texts"].tolist(), z["vectors"], strict=True))
            return float(z["seconds"])
    t0 = time.perf_counter()
    vecs = model(texts)
    seconds = time.perf_counter() - t0
    FIT_CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        FIT_CACHE, texts=np.array(texts), vectors=vecs, name=np.array(model.name), seconds=seconds
    )
    cached.table.update(zip(texts, vecs, strict=True))
    return seconds


def _split(rows: list[list[str]]) -> tuple[list[str], list[str | None]]:
    return [t for t, _ in rows], [None if g == "oos" else g for _, g in rows]


def _argmax_accuracy(router: SemanticRouter, texts: list[str], labels: list[str | None]) -> float:
    """In-scope accuracy of the best-scoring route, thresholds ignored."""
    ins = [i for i, g in enumerate(labels) if g is not None]
    names, scores, _ = route_scores(router._fit_target, router._encode([texts[i] for i in ins]))
    best = scores.argmax(axis=1)
    return float(np.mean([names[b] == labels[i] for b, i in zip(best, ins, strict=True)]))


def measure() -> dict[str, Any]:
    data = clinc()
    model = OnnxEncoder()
    cached = cached_encoder(model, data)
    encode_fit_s = _with_fit_vectors(model, cached, data)
    X, y = _split(data["test"] + data["oos_test"])
    Xf, yf = _split(data["val"] + data["oos_val"])
    rows: list[dict[str, Any]] = []

    def row(
        name: str, router: SemanticRouter, fit_s: float | None, report: Any = None
    ) -> EvalReport:
        ev = evaluation_report(router, X, y)
        thr = list(router.get_thresholds().values())
        rows.append(
            {
                "router": name,
                "in_scope_accuracy": ev.in_scope_accuracy,
                "argmax_accuracy": _argmax_accuracy(router, X, y),
                "oos_recall": ev.oos_recall,
                "oos_precision": ev.oos_precision,
                "accuracy": ev.accuracy,
                "fit_s": fit_s,
                "thresholds": (min(thr), float(np.median(thr)), max(thr)),
                "head_weight": None if report is None else report.head_weight,
                "l2": None if report is None else report.l2,
                "temperature": None if report is None else report.temperature,
            }
        )
        return ev

    routes = clinc_routes(data["train"])
    router = SemanticRouter(routes=routes, encoder=cached, score_threshold=0.45)
    row("fingerpost, not fitted (fixed threshold 0.45)", router, None)
    router = SemanticRouter(routes=routes, encoder=cached)
    row("fingerpost, not fitted (calibrated, target_fpr 0.01)", router, None)
    reports = {}
    for objective in ("balanced", "accuracy"):
        router = SemanticRouter(routes=routes, encoder=cached)
        t0 = time.perf_counter()
        reports[objective] = router.fit(Xf, yf, objective=objective)
        fit_s = time.perf_counter() - t0
        ev = row(f"fingerpost, fitted (objective={objective})", router, fit_s, reports[objective])
        if objective == "balanced":
            worst = ev.worst_routes(10)
    return {
        "rows": rows,
        "worst": worst,
        "encode_fit_s": encode_fit_s,
        "validation": reports["balanced"].validation,
        "n_eval": len(X),
        "smaller": smaller_routers(data, cached, X, y),
    }


def smaller_routers(
    data: dict[str, Any], cached: CachedEncoder, X: list[str], y: list[str | None]
) -> list[list[Any]]:
    """The same test on smaller routers and fit sets (the first n utterances of each intent,
    the first m fit turns of each intent plus the first k out-of-scope ones): does the fit help
    where data are scarce, as it must to generalise?"""
    by: dict[str, list[str]] = {}
    for text, intent in data["val"]:
        by.setdefault(intent, []).append(text)
    out = []
    for per_route, per_fit, n_oos in ((10, 5, 50), (30, 10, 100)):
        routes = clinc_routes(data["train"], per_route)
        fit = [(t, g) for g, ts in by.items() for t in ts[:per_fit]] + [
            (t, None) for t, _ in data["oos_val"][:n_oos]
        ]
        for fitted, fixed in ((False, True), (False, False), (True, False)):
            router = SemanticRouter(
                routes=routes, encoder=cached, score_threshold=0.45 if fixed else None
            )
            report = router.fit([t for t, _ in fit], [g for _, g in fit]) if fitted else None
            ev = evaluation_report(router, X, y)
            name = (
                "fitted"
                if fitted
                else "not fitted, fixed 0.45"
                if fixed
                else "not fitted, calibrated"
            )
            out.append(
                [
                    per_route,
                    len(fit) if fitted else "-",
                    name,
                    ev.in_scope_accuracy,
                    _argmax_accuracy(router, X, y),
                    ev.oos_recall,
                    "-" if report is None else report.validation,
                ]
            )
    return out


def main() -> str:
    res = measure()
    rows = [
        [
            r["router"],
            r["in_scope_accuracy"],
            r["argmax_accuracy"],
            r["oos_recall"],
            r["oos_precision"],
            r["accuracy"],
            "-" if r["fit_s"] is None else f"{r['fit_s']:.1f}",
            "{:.3f} / {:.3f} / {:.3f}".format(*r["thresholds"]),
            "-"
            if r["head_weight"] is None
            else f"{r['head_weight']:g} (T {r['temperature']:g}, L2 {r['l2'] or 0:.1g})",
        ]
        for r in res["rows"]
    ]
    out = [
        table(
            f"Routing quality, CLINC150 test + oos_test ({res['n_eval']:,} turns); routes = train, fit on val + oos_val",
            [
                "router",
                "in-scope acc",
                "in-scope acc (argmax)",
                "OOS recall",
                "OOS precision",
                "accuracy",
                "fit s",
                "thresholds min / median / max",
                "head weight",
            ],
            rows,
        )
    ]
    out.append(
        f"Fit s: the fitting itself ({res['validation']}), vectors cached; encoding the 3,100 fit turns "
        f"took {res['encode_fit_s']:.1f} s more. 'argmax' ignores thresholds (every turn routed).\n"
    )
    out.append(
        table(
            "Smaller routers, same test; fit turns: 5 or 10 per intent + 50 or 100 out of scope (objective=balanced)",
            [
                "utterances per route",
                "fit turns",
                "router",
                "in-scope acc",
                "in-scope acc (argmax)",
                "OOS recall",
                "validation",
            ],
            res["smaller"],
        )
    )
    out.append(
        table(
            "Worst 10 routes, fitted (objective=balanced)",
            ["route", "turns", "correct", "accuracy", "most frequent wrong answer"],
            [
                [name, n, ok, ok / n, "(no route)" if wrong is None and ok < n else (wrong or "")]
                for name, n, ok, wrong in res["worst"]
            ],
        )
    )
    return "\n".join(out)


if __name__ == "__main__":
    assert CACHE.parent.exists()
    print(main())
