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
    turns of ``tests/data/political_turns.txt`` (written after the first mechanism was final),
    ``tests/data/political_turns_2.txt`` (written after the gate was final) and
    ``tests/data/political_turns_3.txt`` (written after round 3: confidence margin, wider
    neighbourhood) and ``tests/data/political_turns_4.txt`` (after round 4: tail-extrapolated
    levels, the neighbourhood as weak examples).

The peers (semantic-router 0.1.16, synaptoroute) get the same routes and turns in the same run,
with their DEFAULT settings (no fit, their default thresholds: what a user gets out of the box)
and the same vectors: fingerpost's cached vectors of every text go to each peer's venv in an
.npz (``benchmarks/peers/*_bench.py fewshot``), so the model is the same by construction. A
second row per peer sets its documented threshold to fingerpost's fixed one (``PEER_SETTINGS``).

    .venv/bin/python benchmarks/run.py --only fewshot              # with peers
    .venv/bin/python benchmarks/run.py --only fewshot --no-peers
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _data import CLINC, HERE, CachedEncoder, cached_encoder, clinc, clinc_routes, table

from fingerpost import Route, SemanticRouter
from fingerpost._background import default_background
from fingerpost.encoders import OnnxEncoder
from fingerpost.quality._evaluate import evaluation_report

DOMAINS = CLINC.parent / "domains.json"
POLITICAL = [
    HERE.parent / "tests" / "data" / f
    for f in (
        "political_turns.txt",
        "political_turns_2.txt",
        "political_turns_3.txt",
        "political_turns_4.txt",
    )
]
# ordinary turns written for the tests (the second list in styles unlike CLINC150's commands)
WRITTEN = [
    HERE.parent / "tests" / "data" / f for f in ("ordinary_turns.txt", "ordinary_turns_2.txt")
]
WRITTEN_KEY = "written"
FIXED = 0.45  # the router's default fixed threshold (score_threshold=0.45 turns calibration off)
EVAL = "eval"  # the peers' name for test + oos_test (ordinary turns, guardrail recall and FP)
# peer name -> (task, args) -> JSON; benchmarks/run.py passes its `peer` (one venv each)
PeerRunner = Callable[[str, str, dict[str, Any]], dict[str, Any]]
# "defaults" is the headline (what a user gets out of the box); the second row puts each peer
# on fingerpost's fixed threshold, a documented knob of both (semantic-router: score_threshold;
# synaptoroute: Route.threshold), so the scoring rules differ and the threshold does not.
PEER_SETTINGS: list[dict[str, Any]] = [
    {"label": "defaults"},
    {"label": f"threshold {FIXED}", "threshold": FIXED},
]
PEER_NOTE = {
    "semantic-router 0.1.16": "SemanticRouter(encoder, routes, LocalIndex(), auto_sync='local') with "
    "its defaults: top_k 5, mean of the route's hits among them, threshold 0.5 (its "
    "HuggingFaceEncoder's default for all-MiniLM-L6-v2; a custom DenseEncoder defaults to None, "
    "which routes every turn)",
    "synaptoroute": "AdaptiveRouter(encoder) with its defaults: Route.threshold 0.5 on the best "
    "single hit among the top 5, margin 0.0; router(text)",
}


def _router(routes: list[Route], enc: CachedEncoder, calibrated: bool) -> SemanticRouter:
    if calibrated:
        return SemanticRouter(routes=routes, encoder=enc)
    return SemanticRouter(routes=routes, encoder=enc, score_threshold=FIXED)


def _domains() -> dict[str, list[str]]:
    return json.loads(DOMAINS.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def guard_draws(
    data: dict[str, Any], per: int = 5, rng: np.random.Generator | None = None, repeats: int = 3
) -> list[tuple[str, list[str]]]:
    """(domain, ``per`` utterances from as many of its intents) per draw, ``repeats`` draws a
    domain, in the order the tables use them (seeded: ``rng`` defaults to seed 0). Utterances
    are ``train`` turns the background corpus does not hold."""
    domains = _domains()
    background = set(default_background().texts)
    assert not background & {t for k in ("test", "oos_test") for t, _ in data[k]}, (
        "test turn in background"
    )
    by: dict[str, list[str]] = {}
    for text, intent in data["train"]:
        if text not in background:
            by.setdefault(intent, []).append(text)
    rng = np.random.default_rng(0) if rng is None else rng
    draws = []
    for dom, intents in domains.items():
        for _ in range(repeats):
            picks = rng.choice(len(intents), per, replace=False)
            draws.append(
                (dom, [by[intents[i]][int(rng.integers(len(by[intents[i]])))] for i in picks])
            )
    return draws


def domain_turns(data: dict[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    """Per domain: its ``test`` turns (recall) and every other turn of ``test`` + ``oos_test``
    (false positives)."""
    domains = _domains()
    test_by: dict[str, list[str]] = {}
    for text, intent in data["test"]:
        test_by.setdefault(intent, []).append(text)
    oos = [t for t, _ in data["oos_test"]]
    return {
        dom: (
            [t for g in intents for t in test_by[g]],
            [t for d, gs in domains.items() if d != dom for g in gs for t in test_by[g]] + oos,
        )
        for dom, intents in domains.items()
    }


def ceiling(data: dict[str, Any], enc: CachedEncoder) -> list[list[Any]]:
    """How far any threshold could go: for 5 and 10 utterances per domain route, fingerpost's
    calibrated recall and FP rate, and the recall at a 1 % FP rate that the route's similarity
    score and its gate score would reach with a threshold picked on the test turns themselves
    (an oracle: no threshold set without the test turns can do better with these scores)."""
    from fingerpost._background import background_vectors
    from fingerpost._calibration import fit_gate, route_score
    from fingerpost.engine._table import ScoringSettings

    turns = domain_turns(data)
    vectors = {dom: (enc.encode(pos), enc.encode(neg)) for dom, (pos, neg) in turns.items()}
    settings = ScoringSettings()
    bgv, _ = background_vectors(enc, default_background())
    rng = np.random.default_rng(1)
    rows = []
    for per in (5, 10):
        got: dict[str, list[float]] = {"rec": [], "fp": [], "sim": [], "gate": []}
        for dom, utts in guard_draws(data, per, rng):
            (pos, neg), (vp, vn) = turns[dom], vectors[dom]
            r = _router([Route(name=dom, utterances=utts)], enc, True)
            got["rec"].append(float(np.mean([c.name == dom for c in r.batch(pos)])))
            got["fp"].append(float(np.mean([c.name == dom for c in r.batch(neg)])))
            vr = enc.encode(utts)
            gate = fit_gate(vr, bgv, settings, 0.01)
            assert gate is not None
            for key, (sp, sn) in {
                "sim": (route_score(vr, vp, settings), route_score(vr, vn, settings)),
                "gate": (vp @ gate.weights, vn @ gate.weights),
            }.items():
                got[key].append(float((sp > np.quantile(sn, 0.99)).mean()))
        rows.append(
            [per, *(round(float(np.mean(got[k])), 3) for k in ("rec", "fp", "sim", "gate"))]
        )
    rows.append(["all train turns, labelled", "-", "-", *_supervised(data, enc, vectors)])
    return rows


def _supervised(
    data: dict[str, Any], enc: CachedEncoder, vectors: dict[str, tuple[Any, Any]]
) -> list[float]:
    """The same oracle recall @1 % FP, mean over domains, for a route holding every ``train``
    turn of its domain (1,500; similarity score) and for a linear model fitted on labelled
    turns (the domain's ``train`` turns against every other ``train`` and ``oos_train`` turn,
    class-balanced ridge least squares: the gate's form with every negative known). An upper
    bound on what the gate's form can reach with this encoder, whatever the examples."""
    from fingerpost._calibration import RIDGE, route_score
    from fingerpost.engine._table import ScoringSettings

    domain_of = {i: d for d, intents in _domains().items() for i in intents}
    train = [(t, domain_of[i]) for t, i in data["train"]] + [(t, "") for t, _ in data["oos_train"]]
    x = enc.encode([t for t, _ in train]).astype(np.float64)
    label = np.array([d for _, d in train])
    x1 = np.hstack([x, np.ones((x.shape[0], 1))])
    sim, linear = [], []
    for dom, (vp, vn) in vectors.items():
        own = label == dom
        route = x[own].astype(np.float32)
        sp, sn = (
            route_score(route, vp, ScoringSettings()),
            route_score(route, vn, ScoringSettings()),
        )
        sim.append(float((sp > np.quantile(sn, 0.99)).mean()))
        weight = np.where(own, 0.5 / own.sum(), 0.5 / (~own).sum())
        a = (x1 * weight[:, None]).T @ x1
        a[np.arange(x.shape[1]), np.arange(x.shape[1])] += RIDGE
        w = np.linalg.solve(a, (x1 * weight[:, None]).T @ np.where(own, 1.0, -1.0))
        lp, ln = vp.astype(np.float64) @ w[:-1], vn.astype(np.float64) @ w[:-1]
        linear.append(float((lp > np.quantile(ln, 0.99)).mean()))
    return [round(float(np.mean(sim)), 3), round(float(np.mean(linear)), 3)]


def new_topics(data: dict[str, Any], enc: CachedEncoder) -> list[list[Any]]:
    """Topics the background lacks (a user's own traffic is new to the shipped corpus): each
    CLINC150 domain is left out of the background in turn, and the 5-utterance routes of the
    other domains (``guard_draws``) get gates against what is left. The rule is the router's
    (similarity >= the fixed threshold, or the gate). Rates on ``test`` turns: the left-out
    domain's (new topic), the route's own domain's (recall) and the rest (other domains in
    the background, and ``oos_test``). With the neighbourhood's weak examples (the default)
    and without them (``neighbourhood_weight=0``, round 3's gates), same draws."""
    from fingerpost import _calibration as cal
    from fingerpost._background import background_vectors
    from fingerpost.engine._table import ScoringSettings

    domains = _domains()
    domain_of = {i: d for d, intents in domains.items() for i in intents}
    intent_of = {t: i for t, i in data["train"]} | {t: "oos" for t, _ in data["oos_train"]}
    texts = default_background().texts
    bg_domain = np.array([domain_of.get(intent_of[t], "oos") for t in texts])
    bgv, _ = background_vectors(enc, default_background())
    test = [(t, domain_of[i]) for t, i in data["test"]] + [(t, "oos") for t, _ in data["oos_test"]]
    tv = enc.encode([t for t, _ in test])
    td = np.array([d for _, d in test])
    draws = [(d, enc.encode(u)) for d, u in guard_draws(data)]
    settings = ScoringSettings()
    weights = (cal.NEIGHBOURHOOD_WEIGHT, 0.0)
    got: dict[float, dict[str, list[float]]] = {
        w: {"new": [], "own": [], "rest": []} for w in weights
    }
    for left_out in domains:
        kept = bgv[bg_domain != left_out]
        grams = cal.background_grams(kept)  # once per background, for both weights
        for topic, route in draws:
            if topic == left_out:
                continue
            similar = cal.route_score(route, tv, settings) >= FIXED
            for weight in weights:
                gate = cal.fit_gate(route, kept, settings, 0.01, grams, weight)
                assert gate is not None
                passed = similar | (tv @ gate.weights + gate.bias > gate.cutoff(1))
                got[weight]["new"].append(float(passed[td == left_out].mean()))
                got[weight]["own"].append(float(passed[td == topic].mean()))
                got[weight]["rest"].append(float(passed[(td != left_out) & (td != topic)].mean()))
    return [
        [
            f"weak examples {weight:g}" if weight else "none (round 3)",
            len(g["new"]),
            f"{np.mean(g['new']):.4f}",
            f"{np.max(g['new']):.3f}",
            f"{np.mean(g['own']):.3f}",
            f"{np.mean(g['rest']):.4f}",
        ]
        for weight, g in got.items()
    ]


def _rate(hits: Sequence[tuple[float, float]]) -> str:
    return f"{np.mean([x[0] for x in hits]):.3f} / {np.mean([x[1] for x in hits]):.4f}"


def guardrails(
    data: dict[str, Any],
    enc: CachedEncoder,
    draws: list[tuple[str, list[str]]],
    peers: dict[str, dict[str, Any]],
) -> list[list[Any]]:
    domains = _domains()
    turns = domain_turns(data)
    domain_of = {g: d for d, gs in domains.items() for g in gs}
    # the peers answer on EVAL (test + oos_test, in that order): each turn's domain or None
    eval_dom = [domain_of[g] for _, g in data["test"]] + [None] * len(data["oos_test"])
    modes = ["calibrated", "fixed", *peers]
    totals: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    res: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for k, (dom, utts) in enumerate(draws):
        pos, neg = turns[dom]
        assert len(pos) + len(neg) == len(eval_dom)
        cell = res.setdefault(dom, {m: [] for m in modes})
        for mode in ("calibrated", "fixed"):
            r = _router([Route(name=dom, utterances=utts)], enc, mode == "calibrated")
            rec = float(np.mean([c.name == dom for c in r.batch(pos)]))
            fp = float(np.mean([c.name == dom for c in r.batch(neg)]))
            cell[mode].append((rec, fp))
            totals[mode].append((rec, fp))
        for name, got in peers.items():
            pred = got[f"guard/{k}"][EVAL]  # route index, -1: none (one route: 0 = caught)
            hit = [p == 0 for p, d in zip(pred, eval_dom, strict=True) if d == dom]
            miss = [p == 0 for p, d in zip(pred, eval_dom, strict=True) if d != dom]
            rec, fp = float(np.mean(hit)), float(np.mean(miss))
            cell[name].append((rec, fp))
            totals[name].append((rec, fp))
    rows = [[dom, *(_rate(cell[m]) for m in modes)] for dom, cell in res.items()]
    rows.append(["mean", *(_rate(totals[m]) for m in modes)])
    return rows


def few_shot(
    data: dict[str, Any], enc: CachedEncoder, peers: dict[str, dict[str, Any]]
) -> list[list[Any]]:
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
        for name, got in peers.items():
            names = [rt.name for rt in routes]
            pred = [None if i < 0 else names[i] for i in got[f"fewshot/{per}"][EVAL]]
            ins = [(p, g) for p, g in zip(pred, y, strict=True) if g is not None]
            oos = [p for p, g in zip(pred, y, strict=True) if g is None]
            out.append(
                [
                    per,
                    name,
                    sum(p == g for p, g in ins) / len(ins),
                    sum(p is None for p in oos) / len(oos),
                    sum(p == g for p, g in zip(pred, y, strict=True)) / len(y),
                    "-",
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


def politics_routers() -> list[tuple[str, list[Route]]]:
    sys.path.insert(0, str(HERE.parent / "examples"))
    from quickstart import ROUTES  # the quickstart's politics route, unchanged

    route = next(r for r in ROUTES if r.name == "politics")
    return [
        ("quickstart's politics alone", [route]),
        (f"all {len(ROUTES)} quickstart routes", list(ROUTES)),
        ("seed routes: politics (6) + chitchat (5)", SEED_ROUTES),
        ("seed's politics alone", SEED_ROUTES[:1]),
    ]


def _lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [t for t in lines if t.strip() and not t.startswith("#")]


def political_sets() -> list[list[str]]:
    return [_lines(p) for p in POLITICAL if p.exists()]


def written_ordinary() -> list[str]:
    return [t for p in WRITTEN for t in _lines(p)]


def politics(
    data: dict[str, Any], enc: CachedEncoder, peers: dict[str, dict[str, Any]]
) -> list[list[Any]]:
    ordinary = [t for k in ("test", "oos_test") for t, _ in data[k]]
    n_in = len(data["test"])  # ordinary[:n_in] in scope, the rest out of scope

    def flagged(hits: Sequence[bool]) -> list[Any]:
        """Share flagged of all the CLINC150 turns, of the in-scope ones, of the others."""
        return [float(np.mean(hits)), float(np.mean(hits[:n_in])), float(np.mean(hits[n_in:]))]

    sets = political_sets()
    written = written_ordinary()
    routers = politics_routers()
    out = []
    for calibrated in (True, False):
        for name, routes in routers:
            r = _router(routes, enc, calibrated)
            fp = flagged([c.name == "politics" for c in r.batch(ordinary)])
            fp2 = sum(c.name == "politics" for c in r.batch(written))
            recs = [
                f"{np.mean([c.name == 'politics' for c in r.batch(ts)]):.2f} of {len(ts)}"
                for ts in sets
            ]
            out.append(
                [
                    "calibrated (target_fpr 0.01)" if calibrated else f"fixed {FIXED}",
                    name,
                    *recs,
                    *fp,
                    f"{fp2} of {len(written)}",
                ]
            )
    for peer, got in peers.items():
        for k, (name, routes) in enumerate(routers):
            ans = got[f"politics/{k}"]
            pol = [rt.name for rt in routes].index("politics")
            recs = [
                f"{np.mean([i == pol for i in ans[f'political/{j}']]):.2f} of {len(ts)}"
                for j, ts in enumerate(sets)
            ]
            fp = flagged([i == pol for i in ans[EVAL]])
            fp2 = sum(i == pol for i in ans[WRITTEN_KEY])
            out.append([peer, name, *recs, *fp, f"{fp2} of {len(written)}"])
    return out


def fewer_examples(data: dict[str, Any], enc: CachedEncoder) -> list[list[Any]]:
    """The seed's politics route alone, calibrated, with ``k`` of its six utterances (every
    subset; users write 3-10): recall over the political lists, share of CLINC150 test +
    oos_test flagged, and the most written ordinary turns any subset flags."""
    political = [t for ts in political_sets() for t in ts]
    ordinary = [t for k in ("test", "oos_test") for t, _ in data[k]]
    written = written_ordinary()
    utterances = SEED_ROUTES[0].utterances
    rows = []
    for k in range(3, len(utterances) + 1):
        recall, flagged, stray = [], [], []
        for subset in itertools.combinations(utterances, k):
            r = _router([Route(name="politics", utterances=list(subset))], enc, True)

            def share(turns: list[str], router: SemanticRouter = r) -> float:
                return float(np.mean([c.name == "politics" for c in router.batch(turns)]))

            recall.append(share(political))
            flagged.append(share(ordinary))
            stray.append(round(share(written) * len(written)))
        rows.append(
            [
                k,
                len(recall),
                f"{np.mean(recall):.3f}",
                f"{np.min(recall):.3f}",
                f"{np.mean(flagged):.4f}",
                f"{np.max(flagged):.4f}",
                f"{max(stray)} of {len(written)}",
            ]
        )
    return rows


def own_background(data: dict[str, Any], enc: CachedEncoder) -> list[list[Any]]:
    """A user's own traffic as ``background=``: one CLINC150 domain's 1,500 ``train`` turns in
    turn (an app's traffic is usually one domain), the seed's two routes (politics, chitchat)
    calibrated against it. Rows: the shipped corpus alone (no ``background=``); the user's
    turns joined to it (what ``background=`` does now); and the user's turns alone (what it
    did until round 6), which applies the router's pass rule with the pure functions
    (similarity >= the fixed threshold, or the gate; the best passing route by similarity).
    Rates on ``test`` turns: the other domains' and ``oos_test`` (flagged by either route, and
    as politics), the domain's own, and recall on the four political lists."""
    from fingerpost import _calibration as cal
    from fingerpost.engine._table import ScoringSettings

    domains = _domains()
    domain_of = {i: d for d, intents in domains.items() for i in intents}
    test = [(t, domain_of[i]) for t, i in data["test"]] + [(t, "oos") for t, _ in data["oos_test"]]
    political = [t for ts in political_sets() for t in ts]
    turns = [t for t, _ in test] + political
    where = np.array([d for _, d in test] + ["politics"] * len(political))
    vecs = enc.encode(turns)
    settings = ScoringSettings()
    routes = [(r.name, enc.encode(list(r.utterances))) for r in SEED_ROUTES]
    similar = np.stack([cal.route_score(v, vecs, settings) for _, v in routes], axis=1)

    def alone(user: list[str]) -> list[str | None]:
        bg = enc.encode(list(dict.fromkeys(user)))
        grams = cal.background_grams(bg)
        gates = [cal.fit_gate(v, bg, settings, 0.01, grams) for _, v in routes]
        passes = np.stack(
            [vecs @ g.weights + g.bias > g.cutoff(len(gates)) for g in gates if g is not None],
            axis=1,
        )
        ok = passes | (similar >= FIXED)
        best = np.where(ok, similar, -np.inf).argmax(axis=1)
        return [routes[b][0] if ok[i, b] else None for i, b in enumerate(best)]

    by: dict[str, list[str]] = {}
    for text, intent in data["train"]:
        by.setdefault(domain_of[intent], []).append(text)
    modes = (
        "none (the shipped corpus)",
        "joined to the shipped corpus (round 6)",
        "instead of the shipped corpus (until round 6)",
    )
    got: dict[str, list[list[float]]] = {m: [] for m in modes}
    shipped = [c.name for c in SemanticRouter(routes=SEED_ROUTES, encoder=enc).batch(turns)]
    for dom in domains:
        names = {
            modes[0]: shipped,  # the same router for every domain; only the rates differ
            modes[1]: [
                c.name
                for c in SemanticRouter(routes=SEED_ROUTES, encoder=enc, background=by[dom]).batch(
                    turns
                )
            ],
            modes[2]: alone(by[dom]),
        }
        other = (where != dom) & (where != "politics")
        for mode, got_names in names.items():
            n = np.array([x or "" for x in got_names])
            got[mode].append(
                [
                    float((n[other] != "").mean()),
                    float((n[other] == "politics").mean()),
                    float((n[where == dom] != "").mean()),
                    float((n[where == "politics"] == "politics").mean()),
                ]
            )
    rows = []
    for mode, values in got.items():
        a = np.array(values)
        rows.append(
            [
                mode,
                f"{a[:, 0].mean():.4f} (worst {a[:, 0].max():.4f})",
                f"{a[:, 1].mean():.4f} (worst {a[:, 1].max():.4f})",
                f"{a[:, 2].mean():.4f}",
                f"{a[:, 3].mean():.3f} (worst {a[:, 3].min():.3f})",
            ]
        )
    return rows


def peer_spec(
    data: dict[str, Any], draws: list[tuple[str, list[str]]]
) -> tuple[dict[str, Any], list[str]]:
    """Every router of the three tables as (routes, turn sets), and every text they need."""

    def plain(routes: Sequence[Route]) -> list[dict[str, Any]]:
        return [{"name": r.name, "utterances": list(r.utterances)} for r in routes]

    sets = {EVAL: [t for k in ("test", "oos_test") for t, _ in data[k]]}
    pol_keys = []
    for j, ts in enumerate(political_sets()):
        sets[f"political/{j}"] = ts
        pol_keys.append(f"political/{j}")
    sets[WRITTEN_KEY] = written_ordinary()
    cases = [
        {"id": f"guard/{k}", "routes": plain([Route(name=d, utterances=u)]), "turns": [EVAL]}
        for k, (d, u) in enumerate(draws)
    ]
    cases += [
        {"id": f"fewshot/{per}", "routes": plain(clinc_routes(data["train"], per)), "turns": [EVAL]}
        for per in (5, 10)
    ]
    cases += [
        {"id": f"politics/{k}", "routes": plain(routes), "turns": [EVAL, *pol_keys, WRITTEN_KEY]}
        for k, (_, routes) in enumerate(politics_routers())
    ]
    texts = {t for ts in sets.values() for t in ts}
    texts |= {u for c in cases for r in c["routes"] for u in r["utterances"]}
    texts.add("test")  # semantic-router probes the encoder's dimension with encoder(["test"])
    spec = {"turn_sets": sets, "cases": cases, "settings": PEER_SETTINGS}
    return spec, sorted(texts)


def run_peers(
    data: dict[str, Any],
    enc: CachedEncoder,
    draws: list[tuple[str, list[str]]],
    run_peer: PeerRunner | None,
    names: Sequence[str],
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Each peer's answers (case id -> turn set -> route index) and lines to print."""
    if run_peer is None:
        return {}, [f"Peers ({', '.join(names)}) skipped: --no-peers."]
    spec, texts = peer_spec(data, draws)
    answers: dict[str, dict[str, Any]] = {}
    lines = []
    with tempfile.TemporaryDirectory(prefix="fp-fewshot-") as tmp:
        vec = Path(tmp) / "vectors.npz"
        np.savez(vec, texts=np.array(texts), vectors=enc.encode(texts))
        inp = Path(tmp) / "spec.json"
        inp.write_text(json.dumps({**spec, "vectors": str(vec)}), encoding="utf-8")
        for name in names:
            r = run_peer(name, "fewshot", {"input": str(inp)})
            if "results" not in r:
                lines.append(f"{name}: skipped ({r.get('error', 'no results')}).")
                continue
            for setting in PEER_SETTINGS:
                answers[f"{name} ({setting['label']})"] = r["results"][setting["label"]]
            version = r.get("peer_version")
            lines.append(
                f"{name if str(version) in name else f'{name} {version}'}: "
                f"{PEER_NOTE.get(name, 'defaults')}; "
                f"{r['turns_routed']} turns in {r['route_wall_s']} s, "
                f"{r['encoder_misses']} texts the shared vectors lacked."
            )
    return answers, lines


def main(run_peer: PeerRunner | None = None, peer_names: Sequence[str] = ()) -> str:
    data = clinc()
    enc = cached_encoder(OnnxEncoder(), data)
    draws = guard_draws(data)
    peers, notes = run_peers(data, enc, draws, run_peer, peer_names)
    out = [
        table(
            "Topic guardrail: one route of 5 utterances per CLINC150 domain (3 draws each); recall on the domain's test turns / false positives on other domains' test turns + oos_test",
            [
                "domain",
                "calibrated: recall / FP rate",
                f"fixed {FIXED}: recall / FP rate",
                *(f"{name}: recall / FP rate" for name in peers),
            ],
            guardrails(data, enc, draws, peers),
        )
    ]
    out.append(
        table(
            "Topic guardrail ceiling (fingerpost only): 5 or 10 utterances per CLINC150 domain route (3 draws each); calibrated recall and FP rate, and the recall at 1 % FP that an oracle threshold picked on the test turns reaches with the similarity score or the gate score; last row: a route of every train turn of its domain (similarity) and a linear model of the gate's form fitted on every labelled train turn (gate column)",
            [
                "utterances per route",
                "calibrated recall",
                "calibrated FP rate",
                "oracle recall @1% FP: similarity",
                "oracle recall @1% FP: gate",
            ],
            ceiling(data, enc),
        )
    )
    out.append(
        table(
            "Topics the background lacks: each CLINC150 domain left out of the background in turn; gates of the other domains' 5-utterance routes (target 1 %); pass rates on test turns",
            [
                "neighbourhood in the route's class",
                "routes",
                "left-out domain passed (mean)",
                "left-out domain passed (worst route)",
                "own domain passed (recall)",
                "other turns passed",
            ],
            new_topics(data, enc),
        )
    )
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
            few_shot(data, enc, peers),
        )
    )
    out.append(
        table(
            "Politics guardrails, no fit (the quickstart's route and the seed's): recall on varied political turns (four lists), ordinary turns flagged as politics (CLINC150 test + oos_test; and the tests' written ordinary turns)",
            [
                "thresholds",
                "router",
                "political_turns.txt caught",
                "political_turns_2.txt caught",
                "political_turns_3.txt caught",
                "political_turns_4.txt caught",
                "CLINC150 test + oos_test flagged (5,500)",
                "in-scope flagged (4,500)",
                "out-of-scope flagged (1,000)",
                "written ordinary turns flagged",
            ],
            politics(data, enc, peers),
        )
    )
    out.append(
        table(
            "Fewer examples (fingerpost only): the seed's politics route alone, calibrated, with k of its six utterances (every subset); recall on the four political lists (200 turns), ordinary turns flagged",
            [
                "utterances",
                "subsets",
                "recall (mean)",
                "recall (worst subset)",
                "CLINC150 test + oos_test flagged (mean)",
                "flagged (worst subset)",
                "written ordinary turns flagged (worst subset)",
            ],
            fewer_examples(data, enc),
        )
    )
    out.append(
        table(
            "Your own traffic as background= (fingerpost only): the seed's routes (politics, chitchat) with one CLINC150 domain's 1,500 train turns as the user's background, each domain in turn; mean over domains (worst)",
            [
                "the user's turns",
                "other domains' test + oos_test flagged",
                "flagged as politics",
                "own domain's test turns flagged",
                "political lists caught (200)",
            ],
            own_background(data, enc),
        )
    )
    if peers:
        notes.append(
            f"the rows marked threshold {FIXED} set each peer's documented threshold to "
            f"fingerpost's fixed {FIXED} (semantic-router: score_threshold; synaptoroute: every "
            "Route.threshold): the same threshold, each router's own score."
        )
        out.append(
            "Peers, same run, same vectors (fingerpost's model, cached), no fit:\n\n"
            + "\n".join(f"* {line}" for line in notes)
            + "\n"
        )
    else:
        out.append("\n".join(notes) + "\n")
    return "\n".join(out)


if __name__ == "__main__":
    from run import PEERS, peer

    print(main(None if "--no-peers" in sys.argv else peer, list(PEERS)))
