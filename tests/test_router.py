from __future__ import annotations

import threading

import numpy as np
import pytest

import fingerpost
from fingerpost import (
    DuplicateRouteError,
    EncoderMismatchError,
    FingerpostError,
    InvalidInputError,
    InvalidVectorError,
    Route,
    RouteChoice,
    RouteNotFoundError,
    SemanticRouter,
)
from fingerpost.encoders import DenseEncoder
from fingerpost.encoders.testing import HashEncoder


def make(routes, encoder, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("score_threshold", 0.3)
    return SemanticRouter(routes=routes, encoder=encoder, **kw)


def test_public_exports_are_pinned() -> None:
    assert fingerpost.__all__ == sorted(fingerpost.__all__)
    assert fingerpost.__all__ == [
        "Aggregation",
        "DuplicateRouteError",
        "EncoderError",
        "EncoderMismatchError",
        "EventLoopError",
        "FingerpostError",
        "FitReport",
        "ForeignLayoutError",
        "InvalidInputError",
        "InvalidVectorError",
        "LeaseHeldError",
        "MigrationReport",
        "ModelNotFoundError",
        "QueueFullError",
        "RemoteUnavailableError",
        "Route",
        "RouteChoice",
        "RouteNotFoundError",
        "RouterClosedError",
        "RouterConfig",
        "SemanticRouter",
        "SemanticRouterConfigWarning",
        "StoreError",
        "SyncConflictError",
        "SyncError",
        "SyncMode",
        "ThresholdReport",
        "Utterance",
        "UtteranceDiff",
        "__version__",
        "limit_blas_threads",
        "migrate",
    ]
    for name in fingerpost.__all__:
        assert hasattr(fingerpost, name)
    from fingerpost import encoders, index

    assert encoders.__all__ == [
        "DenseEncoder",
        "HashEncoder",
        "OnnxEncoder",
        "check_encoder_spec",
        "encoder_from_spec",
        "encoder_spec",
    ]
    assert index.__all__ == ["LocalIndex", "PineconeIndex", "QdrantIndex", "RemoteIndex"]
    for name in index.__all__:
        assert getattr(index, name).__name__ == name


def test_routes_at_once_and_no_match(seed_routes, encoder) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, encoder)
    choice = router("don't you just love the president?")
    assert isinstance(choice, RouteChoice)
    assert choice.name == "politics"
    assert choice.similarity_score is not None and 0.3 <= choice.similarity_score <= 1.0
    assert router("zzz qqq xxx").name is None


def test_limit_and_route_filter(seed_routes, encoder) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, encoder, score_threshold=-1.0)
    everything = router("lovely weather, the president", limit=None)
    assert [c.name for c in everything] == sorted(
        [c.name for c in everything],
        key=lambda n: -next(c.similarity_score for c in everything if c.name == n),
    )
    assert {c.name for c in everything} == {"politics", "chitchat"}
    assert router("lovely weather", limit=None)[0].name == "chitchat"
    assert [c.name for c in router("lovely weather, the president", limit=1 + 1)] == [
        c.name for c in everything
    ]
    assert router("lovely weather", route_filter=["politics"]).name == "politics"
    with pytest.raises(RouteNotFoundError):
        router("hi", route_filter=["nope"])
    with pytest.raises(InvalidInputError):
        router("hi", route_filter="politics")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        router("hi", limit=0)


@pytest.mark.parametrize("bad", ["", "   ", None, 3, b"bytes"])
def test_bad_text_is_typed(seed_routes, encoder, bad) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, encoder)
    with pytest.raises(InvalidInputError):
        router(bad)
    with pytest.raises(InvalidInputError):
        router.batch(["fine", bad])


def test_batch_equals_single_and_uses_one_encoder_call(seed_routes, encoder) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, encoder)
    texts = ["the president is great", "weather today?", "qqq", "political opinions please"]
    singles = [router(t) for t in texts]
    calls = encoder.calls
    batched = router.batch(texts)
    assert encoder.calls == calls + 1
    assert [c.name for c in batched] == [c.name for c in singles]
    for b, s in zip(batched, singles, strict=True):
        if s.name is not None:
            assert b.similarity_score == pytest.approx(s.similarity_score, abs=1e-5)
    assert router.batch([]) == []
    assert [len(x) for x in router.batch(texts, limit=None)] == [
        len(router(t, limit=None)) for t in texts
    ]


def test_add_delete_update_get(seed_routes, encoder) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, encoder)
    router.add(
        Route(name="food", utterances=["order a pizza", "i want sushi"], metadata={"tier": "cheap"})
    )
    choice = router("order me a pizza please")
    assert choice.name == "food" and choice.metadata == {"tier": "cheap"}
    assert router.list_route_names() == ["politics", "chitchat", "food"]
    router.update("food", score_threshold=0.99)
    assert router("order me a pizza please").name is None
    assert router.get_thresholds()["food"] == 0.99
    router.update("food", score_threshold=None)
    assert router.get_thresholds()["food"] == router.score_threshold
    calls = encoder.encoded
    router.add_utterances("food", ["burger and fries"])
    assert encoder.encoded == calls + 1  # only the new utterance was encoded
    assert router("burger and fries").name == "food"
    router.delete("food")
    assert router.get("food") is None
    assert "food" not in router.list_route_names()


def test_bad_management_calls_change_nothing(seed_routes, encoder) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, encoder)
    before = router.to_config()
    with pytest.raises(DuplicateRouteError):
        router.add(Route(name="politics", utterances=["x"]))
    with pytest.raises(DuplicateRouteError):
        router.add([Route(name="n", utterances=["x"]), Route(name="n", utterances=["y"])])
    with pytest.raises(RouteNotFoundError):
        router.delete("nope")
    with pytest.raises(RouteNotFoundError):
        router.update("nope", score_threshold=0.2)
    with pytest.raises(RouteNotFoundError):
        router.add_utterances("nope", ["x"])
    with pytest.raises(InvalidInputError):
        router.update("politics", score_threshold=3.0)
    with pytest.raises(InvalidInputError):
        router.add_utterances("politics", [""])
    with pytest.raises(InvalidInputError):
        router.add("not a route")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        SemanticRouter(routes=seed_routes + seed_routes[:1], encoder=encoder)
    assert router.to_config() == before


class _BadEncoder(DenseEncoder):
    def __init__(self, mode: str) -> None:
        self.name, self.dim, self.mode = "bad", 4, mode

    def encode(self, texts: list[str]) -> np.ndarray:
        if self.mode == "nan":
            return np.full((len(texts), 4), np.nan, dtype=np.float32)
        if self.mode == "dim":
            return np.ones((len(texts), 5), dtype=np.float32)
        if self.mode == "zero":
            return np.zeros((len(texts), 4), dtype=np.float32)
        return np.ones((len(texts), 4), dtype=np.float32)


@pytest.mark.parametrize("mode", ["nan", "dim", "zero"])
def test_bad_encoder_output_is_refused_and_nothing_changes(mode: str) -> None:
    enc = _BadEncoder("ok")
    router = SemanticRouter(routes=[Route(name="a", utterances=["x"])], encoder=enc)
    enc.mode = mode
    with pytest.raises(InvalidVectorError):
        router.add(Route(name="b", utterances=["y"]))
    with pytest.raises(InvalidVectorError):
        router("hello")
    assert router.list_route_names() == ["a"]


def test_config_round_trip_and_encoder_mismatch(seed_routes, encoder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, encoder, aggregation="mean", top_k=3)
    cfg = router.to_config()
    again = SemanticRouter.from_config(cfg, encoder=encoder)
    assert again.to_config() == cfg
    router.to_json(tmp_path / "r.json")
    router.to_yaml(tmp_path / "r.yaml")
    assert SemanticRouter.from_json(tmp_path / "r.json", encoder=encoder).to_config() == cfg
    assert SemanticRouter.from_yaml(tmp_path / "r.yaml", encoder=encoder).to_config() == cfg
    with pytest.raises(EncoderMismatchError):
        SemanticRouter.from_config(cfg, encoder=HashEncoder(dim=128, name="other"))
    with pytest.raises(EncoderMismatchError):
        SemanticRouter.from_config(cfg, encoder=HashEncoder(dim=64))


def test_settings_are_validated(seed_routes, encoder) -> None:  # type: ignore[no-untyped-def]
    for kw in ({"top_k": 0}, {"aggregation": "median"}, {"score_threshold": 2.0}):
        with pytest.raises(InvalidInputError):
            make(seed_routes, encoder, **kw)


def test_set_threshold_router_wide(seed_routes, encoder) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, encoder)
    router.set_threshold(0.99)
    assert router("do you love the president").name is None
    router.set_threshold(0.3)
    assert router("do you love the president").name == "politics"
    router.set_threshold(0.99, route_name="politics")
    assert router.get_thresholds() == {"politics": 0.99, "chitchat": 0.3}


def test_sync_api_is_thread_safe(seed_routes, encoder) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, encoder)
    texts = [f"{w} number {i}" for i in range(40) for w in ("president", "weather", "chippy", "x")]
    expected = [router(t) for t in texts]
    results: dict[int, list[RouteChoice]] = {}
    barrier = threading.Barrier(8)

    def work(k: int) -> None:
        barrier.wait()
        results[k] = [router(t) for t in texts]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(results[k] == expected for k in range(8))


def test_consistent_answers_during_hot_updates(encoder) -> None:  # type: ignore[no-untyped-def]
    """While a writer swaps route 'x' between two versions, every answer is one of the two."""
    a = Route(name="x", utterances=["alpha beta gamma"], metadata={"v": "a"})
    b = Route(name="x", utterances=["alpha beta gamma", "delta"], metadata={"v": "b"})
    router = make([a, Route(name="other", utterances=["zeta eta"])], encoder)
    allowed = {
        (c.name, round(c.similarity_score or 0, 5), str(c.metadata))
        for c in (router("alpha beta gamma"),)
    }
    router.update("x", utterances=b.utterances, metadata=b.metadata)
    allowed.add(
        (lambda c: (c.name, round(c.similarity_score or 0, 5), str(c.metadata)))(
            router("alpha beta gamma")
        )
    )
    stop = threading.Event()
    seen: set[tuple[object, ...]] = set()

    def reader() -> None:
        while not stop.is_set():
            c = router("alpha beta gamma")
            seen.add((c.name, round(c.similarity_score or 0, 5), str(c.metadata)))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for th in threads:
        th.start()
    for i in range(200):
        r = a if i % 2 else b
        router.update("x", utterances=r.utterances, metadata=r.metadata)
        router.add(Route(name=f"tmp{i}", utterances=[f"tmp {i}"]))
        router.delete(f"tmp{i}")
    stop.set()
    for th in threads:
        th.join()
    assert seen <= allowed and seen


def test_errors_share_one_root() -> None:
    for name in fingerpost.__all__:
        obj = getattr(fingerpost, name)
        if isinstance(obj, type) and issubclass(obj, Warning):  # warnings are not errors
            assert issubclass(obj, UserWarning)
        elif isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, FingerpostError)


class _OverridingEncoder(DenseEncoder):
    """Overrides __call__ (skipping the base class checks): the router must check itself."""

    name, dim = "override", 4

    def encode(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - not used
        raise AssertionError

    def __call__(self, texts):  # type: ignore[no-untyped-def,override]
        return np.full((len(texts), 4), np.nan, dtype=np.float32)


def test_an_encoder_that_overrides_call_is_still_validated() -> None:
    with pytest.raises(InvalidVectorError):
        SemanticRouter(routes=[Route(name="a", utterances=["x"])], encoder=_OverridingEncoder())


def test_update_tells_not_given_from_none(seed_routes, encoder) -> None:  # type: ignore[no-untyped-def]
    """The typed sentinel: an omitted field is kept, ``None`` clears it."""
    from fingerpost.router import _UNSET, _Unset

    assert isinstance(_UNSET, _Unset) and repr(_UNSET) == "<_Unset.UNSET: 'UNSET'>"
    router = make(seed_routes, encoder)
    router.update(
        "politics", description="talk about votes", score_threshold=0.5, metadata={"k": 1}
    )
    kept = router.update("politics", utterances=["the president", "vote for me"])
    assert (kept.description, kept.score_threshold, kept.metadata) == (
        "talk about votes",
        0.5,
        {"k": 1},
    )
    cleared = router.update("politics", description=None, score_threshold=None)
    assert (cleared.description, cleared.score_threshold, cleared.metadata) == (
        None,
        None,
        {"k": 1},
    )


def test_closing_a_stored_router_while_threads_route_is_safe(
    seed_routes, encoder, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Closing the store under readers crashed the process (sqlite3 freed the connection
    inside another thread's ``PRAGMA data_version``). Now readers keep routing from memory, or
    get a typed StoreError in the instant the store goes away."""
    from fingerpost import StoreError
    from fingerpost.index import LocalIndex

    router = make(seed_routes, encoder, index=LocalIndex(path=tmp_path / "r.db"))
    started = threading.Barrier(3)
    stop = threading.Event()
    errors: list[BaseException] = []
    routed = [0, 0]

    def reader(i: int) -> None:
        started.wait(timeout=30)
        while not stop.is_set() or routed[i] < 200:
            try:
                assert router("the president").name == "politics"
            except StoreError:
                pass
            except BaseException as exc:
                errors.append(exc)
                return
            routed[i] += 1

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    started.wait(timeout=30)
    router.close()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors and all(n >= 200 for n in routed)
    assert router("the president").name == "politics"  # memory still serves after close
