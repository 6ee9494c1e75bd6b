"""Issue 10, defects 1 and 5: agents sharing a remote converge, whoever wrote what in which
order; two routers may share one embedded QdrantClient.

Defect 1 was a writer moving its version past other agents' writes it had never pulled, so
``refresh()`` never brought them in. Defect 5 was two indexes calling one embedded client at
once (7-49 of 80 concurrent adds failed)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fingerpost import FingerpostError, Route, RouterConfig, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index.base import RemoteIndex
from fingerpost.sync._hash import content_key
from tests.sync.memory_remote import MemoryRemote

qdrant_client = pytest.importorskip("qdrant_client")
pytest.importorskip("pinecone")

from fingerpost.index import PineconeIndex, QdrantIndex  # noqa: E402
from tests.servers.pinecone_server import PineconeTestServer  # noqa: E402


def contents(routes: list[Route]) -> set[str]:
    return {content_key(u) for u in RouterConfig(routes=list(routes)).to_utterances()}


def remote_contents(index: RemoteIndex) -> set[str]:
    return {content_key(u) for u in index.get_utterances()}


@contextmanager
def shared(kind: str) -> Iterator[Callable[[], RemoteIndex]]:
    """A factory of index objects that all reach one remote collection."""
    if kind == "qdrant-embedded":
        client = qdrant_client.QdrantClient(":memory:")
        try:
            yield lambda: QdrantIndex(index_name="r", client=client)
        finally:
            client.close()
    elif kind == "memory":
        remote = MemoryRemote()
        yield lambda: remote
    else:
        made: list[PineconeIndex] = []
        with PineconeTestServer(api_key="k") as srv:

            def make() -> PineconeIndex:
                made.append(PineconeIndex(index_name="r", api_key="k", host=srv.url))
                return made[-1]

            try:
                yield make
            finally:
                for i in made:
                    i.close()


@pytest.mark.parametrize("kind", ["qdrant-embedded", "memory", "pinecone"])
def test_the_issue_repro_converges(kind: str) -> None:
    """The issue's exact sequence: A writes, B writes, A writes; both refresh."""
    with shared(kind) as make:

        def mk() -> SemanticRouter:
            return SemanticRouter(encoder=HashEncoder(), index=make())

        a, b = mk(), mk()
        a.add(Route(name="r1", utterances=["first route"]))
        b.add(Route(name="r2", utterances=["second route"]))
        a.add(Route(name="r3", utterances=["third route"]))
        a.refresh()
        b.refresh()
        assert a.list_route_names() == b.list_route_names() == ["r1", "r2", "r3"]
        assert sorted(mk().list_route_names()) == ["r1", "r2", "r3"]
        assert a.is_synced() and b.is_synced()
        assert b("second route").name == "r2" and a("second route").name == "r2"


def test_the_background_refresher_pulls_a_write_made_between_two_of_mine() -> None:
    """The Refresher runs ``refresh()``: after A, B, A writes, B's refresher brings in A's
    second write and A's refresher B's write (the loop is driven here, not timed)."""
    remote = MemoryRemote()
    a = SemanticRouter(encoder=HashEncoder(), index=remote)
    b = SemanticRouter(encoder=HashEncoder(), index=remote)
    a.add(Route(name="r1", utterances=["first"]))
    b.add(Route(name="r2", utterances=["second"]))
    a.add(Route(name="r3", utterances=["third"]))
    assert a.get("r2") is not None  # pulled under the lease before A's second write
    assert b.refresh() and b.list_route_names() == ["r1", "r2", "r3"]
    assert sorted(a.list_route_names()) == ["r1", "r2", "r3"]


def test_a_change_log_with_a_gap_falls_back_to_a_full_pull() -> None:
    """Versions the log no longer lists (MAX_CHANGES, or a record from elsewhere) must not be
    skipped: a pull reads everything then."""
    from dataclasses import replace

    remote = MemoryRemote()
    a = SemanticRouter(encoder=HashEncoder(), index=remote)
    b = SemanticRouter(encoder=HashEncoder(), index=remote)
    a.add(Route(name="r1", utterances=["first"]))
    a.add(Route(name="r2", utterances=["second"]))
    assert remote.meta is not None
    remote.meta = replace(remote.meta, changes=remote.meta.changes[-1:])  # v1 fell off the log
    assert b.refresh()
    assert b.list_route_names() == ["r1", "r2"]


# ---- property: random interleavings of 3 agents' writes and refreshes ------------------------

NAMES = ["alpha", "beta", "gamma", "delta"]
TEXTS = [
    "book a flight",
    "cancel my order",
    "what's the weather",
    "play some jazz",
    "reset password",
]

op = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 2), st.sampled_from(NAMES), st.sampled_from(TEXTS)),
    st.tuples(
        st.just("add_utterances"), st.integers(0, 2), st.sampled_from(NAMES), st.sampled_from(TEXTS)
    ),
    st.tuples(st.just("update"), st.integers(0, 2), st.sampled_from(NAMES), st.integers(0, 3)),
    st.tuples(st.just("delete"), st.integers(0, 2), st.sampled_from(NAMES), st.just(0)),
    st.tuples(st.just("refresh"), st.integers(0, 2), st.just(""), st.just(0)),
)


def run_op(r: SemanticRouter, kind: str, name: str, arg: object) -> None:
    if kind == "add":
        r.add(Route(name=name, utterances=[f"{arg} {name}"]))
    elif kind == "add_utterances":
        r.add_utterances(name, [f"{arg} again"])
    elif kind == "update":
        r.update(name, metadata={"v": arg})
    elif kind == "delete":
        r.delete(name)
    else:
        r.refresh()


def check_converged(remote: RemoteIndex, agents: list[SemanticRouter]) -> None:
    for a in agents:
        a.refresh()
    truth = remote_contents(remote)
    for a in agents:
        assert contents(a.routes) == truth
        assert a.is_synced() and a.get_utterance_diff() == []
    fresh = SemanticRouter(encoder=HashEncoder(), index=remote)
    assert contents(fresh.routes) == truth


def converge_case(ops: list[tuple[str, int, str, object]]) -> None:
    remote = MemoryRemote()
    agents = [SemanticRouter(encoder=HashEncoder(), index=remote) for _ in range(3)]
    for kind, who, name, arg in ops:
        with suppress(FingerpostError):  # a route that exists / does not exist: refused
            run_op(agents[who], kind, name, arg)
    check_converged(remote, agents)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=25))
def test_three_agents_converge_after_any_interleaving(
    ops: list[tuple[str, int, str, object]],
) -> None:
    converge_case(ops)


@pytest.mark.soak
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=60))
def test_three_agents_converge_after_any_interleaving_soak(
    ops: list[tuple[str, int, str, object]],
) -> None:
    converge_case(ops)


def test_three_agents_on_embedded_qdrant_converge() -> None:
    """One fixed interleaving through the real embedded Qdrant client (the property runs on
    the in-memory remote for speed)."""
    with shared("qdrant-embedded") as make:
        agents = [SemanticRouter(encoder=HashEncoder(), index=make()) for _ in range(3)]
        script = [
            ("add", 0, "alpha", TEXTS[0]),
            ("add", 1, "beta", TEXTS[1]),
            ("add_utterances", 2, "alpha", 1),
            ("update", 0, "beta", 2),
            ("delete", 1, "alpha", 0),
            ("add", 2, "gamma", TEXTS[2]),
            ("add_utterances", 0, "gamma", 3),
            ("refresh", 1, "", 0),
            ("update", 2, "gamma", 1),
        ]
        for kind, who, name, arg in script:
            run_op(agents[who], kind, name, arg)
        check_converged(make(), agents)
        assert sorted(agents[0].list_route_names()) == ["beta", "gamma"]
        assert sorted(agents[1].get("gamma").utterances) == sorted([f"{TEXTS[2]} gamma", "3 again"])  # type: ignore[union-attr]


# ---- defect 5: two routers, one embedded client ----------------------------------------------


@pytest.mark.parametrize("same_collection", [False, True])
def test_two_routers_sharing_one_embedded_client_all_adds_succeed(same_collection: bool) -> None:
    client = qdrant_client.QdrantClient(":memory:")
    try:
        names = ["shared", "shared"] if same_collection else ["one", "two"]
        routers = [
            SemanticRouter(
                encoder=HashEncoder(), index=QdrantIndex(index_name=n, client=client), lease_wait=60
            )
            for n in names
        ]
        per_thread, threads_per_router = 10, 4
        barrier = threading.Barrier(len(routers) * threads_per_router)
        errors: list[BaseException] = []

        def work(k: int) -> None:
            r = routers[k % len(routers)]
            barrier.wait()
            for i in range(per_thread):
                try:
                    r.add(Route(name=f"t{k}-{i}", utterances=[f"turn {k} {i}", f"other {k} {i}"]))
                except BaseException as exc:  # every failure counts
                    errors.append(exc)

        threads = [
            threading.Thread(target=work, args=(k,))
            for k in range(len(routers) * threads_per_router)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        total = len(threads) * per_thread  # 80 adds
        for n in dict.fromkeys(names):
            fresh = SemanticRouter(
                encoder=HashEncoder(), index=QdrantIndex(index_name=n, client=client)
            )
            want = total if same_collection else total // 2
            assert len(fresh.list_route_names()) == want
            assert fresh.index.count() == 2 * want  # the collection is readable, every point there
            if n == names[1]:  # thread 1 wrote through routers[1]
                assert fresh("turn 1 3").name == "t1-3"
    finally:
        client.close()


def test_the_change_log_stays_small_and_a_reader_behind_it_pulls_everything() -> None:
    """The log rides in the version record (Pinecone: 40 KB of metadata). Long route names and
    wide writes must not grow it past that; a reader older than the log pulls everything."""
    remote = MemoryRemote()
    a = SemanticRouter(encoder=HashEncoder(), index=remote)
    b = SemanticRouter(encoder=HashEncoder(), index=remote)
    a.add([Route(name=f"wide {i}", utterances=[f"wide utterance {i}"]) for i in range(70)])
    assert remote.meta is not None and remote.meta.changes[-1].full  # > 64 routes: "pull all"
    for i in range(90):
        a.add(Route(name=f"{i:03d} " + "n" * 300, utterances=[f"long name {i}"]))
    assert len(remote.meta.to_json().encode()) < 30_000
    assert b.refresh()
    assert contents(b.routes) == remote_contents(remote) and len(b.routes) == 160
