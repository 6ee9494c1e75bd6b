"""Few-shot routes and guardrails (issue 11): calibrated thresholds vs the fixed default.

(a) Topic guardrail from public data: each CLINC150 domain (``domains.json``) is a broad topic;
    its route has 5 utterances, each from a different intent of the domain (``train`` turns
    not in the background corpus, seeded draws, 3 per domain). Recall: the domain's ``test``
    turns; false positives: the other domains' ``test`` turns and ``oos_test``. The shipped
    background holds CLINC150 ``train``/``oos_train`` turns only, never a test turn (checked
    below), and it does hold turns of every domain: the route's own topic is in it.
(b) Few-shot task routing: 150 routes of the first 5 or 10 ``train`` utterances, no fit;
    in-scope accuracy with thresholds, and out-of-scope recall, on ``test`` + ``oos_test``.
(c) The quickstart's politics route (its utterances unchanged), no fit: the share of CLINC150
    ``test`` + ``oos_test`` turns (ordinary turns) it flags, and its recall on the political
    turns of ``tests/data/political_turns.txt`` (written after the first mechanism was final)
    and ``tests/data/political_turns_2.txt`` (written after the gate was final).

    .venv/bin/python benchmarks/run.py --only fewshot
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from _data import CLINC, HERE, CachedEncoder, cached_encoder, clinc, clinc_routes, table

from fingerpost import Route, SemanticRouter
from fingerpost._background import default_background
from fingerpost.encoders import OnnxEncoder
from fingerpost.quality._evaluate import evaluation_report

DOMAINS = CLINC.parent / "domains.json"
POLITICAL = [
    HERE.parent / "tests" / "data" / f for f in ("political_turns.txt", "political_turns_2.txt")
]
FIXED = 0.45  # the router's default fixed threshold (score_threshold=0.45 turns calibration off)


def _router(routes: list[Route], enc: CachedEncoder, calibrated: bool) -> SemanticRouter:
    if calibrated:
        return SemanticRouter(routes=routes, encoder=enc)
    return SemanticRouter(routes=routes, encoder=enc, score_threshold=FIXED)


def guardrails(data: dict[str, Any], enc: CachedEncoder, repeats: int = 3) -> list[list[Any]]:
    domains: dict[str, list[str]] = json.loads(DOMAINS.read_text(encoding="utf-8"))
    background = set(default_background().texts)
    assert not background & {t for k in ("test", "oos_test") for t, _ in data[k]}, (
        "test turn in background"
    )
    by: dict[str, list[str]] = {}
    for text, intent in data["train"]:
        if text not in background:
            by.setdefault(intent, []).append(text)
    test_by: dict[str, list[str]] = {}
    for text, intent in data["test"]:
        test_by.setdefault(intent, []).append(text)
    oos = [t for t, _ in data["oos_test"]]
    rng = np.random.default_rng(0)
    rows = []
    totals: dict[str, list[tuple[float, float]]] = {"calibrated": [], "fixed": []}
    for dom, intents in domains.items():
        pos = [t for g in intents for t in test_by[g]]
        neg = [t for d, gs in domains.items() if d != dom for g in gs for t in test_by[g]] + oos
        res: dict[str, list[tuple[float, float]]] = {"calibrated": [], "fixed": []}
        for _ in range(repeats):
            picks = rng.choice(len(intents), 5, replace=False)
            utts = [by[intents[i]][int(rng.integers(len(by[intents[i]])))] for i in picks]
            for mode in res:
                r = _router([Route(name=dom, utterances=utts)], enc, mode == "calibrated")
                rec = float(np.mean([c.name == dom for c in r.batch(pos)]))
                fp = float(np.mean([c.name == dom for c in r.batch(neg)]))
                res[mode].append((rec, fp))
                totals[mode].append((rec, fp))
        rows.append(
            [
                dom,
                *(
                    f"{np.mean([x[0] for x in res[m]]):.3f} / {np.mean([x[1] for x in res[m]]):.4f}"
                    for m in res
                ),
            ]
        )
    rows.append(
        [
            "mean",
            *(
                f"{np.mean([x[0] for x in totals[m]]):.3f} / {np.mean([x[1] for x in totals[m]]):.4f}"
                for m in totals
            ),
        ]
    )
    return rows


def few_shot(data: dict[str, Any], enc: CachedEncoder) -> list[list[Any]]:
    rows_ = data["test"] + data["oos_test"]
    X, y = [t for t, _ in rows_], [None if g == "oos" else g for _, g in rows_]
    out = []
    for per in (5, 10):
        routes = clinc_routes(data["train"], per)
        for calibrated in (True, False):
            r = _router(routes, enc, calibrated)
            ev = evaluation_report(r, X, y)
            gates = sum(g is not None for g in r._local.snapshot().gates)
            out.append(
                [
                    per,
                    "calibrated (target_fpr 0.01)" if calibrated else f"fixed {FIXED}",
                    ev.in_scope_accuracy,
                    ev.oos_recall,
                    ev.accuracy,
                    gates,
                ]
            )
    return out


SEED_ROUTES = [  # the routes of the sync-strategies seed (politics: six utterances; chitchat: five)
    Route(
        name="politics",
        utterances=[
            "isn't politics the best thing ever",
            "why don't you tell me about your political opinions",
            "don't you just love the president",
            "don't you just hate the president",
            "they're going to destroy this country!",
            "they will save the country!",
        ],
    ),
    Route(
        name="chitchat",
        utterances=[
            "how's the weather today?",
            "how are things going?",
            "lovely weather today",
            "the weather is horrendous",
            "let's go to the chippy",
        ],
    ),
]


def politics(data: dict[str, Any], enc: CachedEncoder) -> list[list[Any]]:
    sys.path.insert(0, str(HERE.parent / "examples"))
    from quickstart import ROUTES  # the quickstart's politics route, unchanged

    route = next(r for r in ROUTES if r.name == "politics")
    ordinary = [t for k in ("test", "oos_test") for t, _ in data[k]]
    sets = [
        [
            t
            for t in p.read_text(encoding="utf-8").splitlines()
            if t.strip() and not t.startswith("#")
        ]
        for p in POLITICAL
        if p.exists()
    ]
    routers = [
        ("quickstart's politics alone", [route]),
        (f"all {len(ROUTES)} quickstart routes", list(ROUTES)),
        ("seed routes: politics (6) + chitchat (5)", SEED_ROUTES),
    ]
    out = []
    for calibrated in (True, False):
        for name, routes in routers:
            r = _router(routes, enc, calibrated)
            fp = float(np.mean([c.name == "politics" for c in r.batch(ordinary)]))
            recs = [
                f"{np.mean([c.name == 'politics' for c in r.batch(ts)]):.2f} of {len(ts)}"
                for ts in sets
            ]
            out.append(
                [
                    "calibrated (target_fpr 0.01)" if calibrated else f"fixed {FIXED}",
                    name,
                    *recs,
                    fp,
                    len(ordinary),
                ]
            )
    return out


def main() -> str:
    data = clinc()
    enc = cached_encoder(OnnxEncoder(), data)
    out = [
        table(
            "Topic guardrail: one route of 5 utterances per CLINC150 domain (3 draws each); recall on the domain's test turns / false positives on other domains' test turns + oos_test",
            ["domain", "calibrated: recall / FP rate", f"fixed {FIXED}: recall / FP rate"],
            guardrails(data, enc),
        )
    ]
    out.append(
        table(
            "Few-shot CLINC150, no fit: 150 routes of the first n train utterances; test + oos_test",
            [
                "utterances per route",
                "thresholds",
                "in-scope acc",
                "OOS recall",
                "accuracy",
                "routes with a gate",
            ],
            few_shot(data, enc),
        )
    )
    out.append(
        table(
            "Politics guardrails, no fit (the quickstart's route and the seed's): recall on varied political turns (two lists), ordinary turns flagged as politics",
            [
                "thresholds",
                "router",
                "political_turns.txt caught",
                "political_turns_2.txt caught",
                "ordinary turns flagged",
                "ordinary turns",
            ],
            politics(data, enc),
        )
    )
    out.append("Peers (semantic-router 0.1.16, synaptoroute) are not run in this section yet.\n")
    return "\n".join(out)


if __name__ == "__main__":
    print(main())
