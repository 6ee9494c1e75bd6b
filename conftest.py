"""Test tiers for the whole repository (the core's tests and both integrations').

``make test-fast`` runs ``-m "not slow and not soak"``: no model, no subprocess agents, no
loopback servers, under a minute on 2 cores. The tests marked ``slow`` here were found by
running the suite with model loading, subprocesses and socket ``bind`` made to fail (plus a
few long model-free stress runs); a test may also carry ``@pytest.mark.slow`` itself.
Listing them in one place keeps the tier visible and out of every test module's way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

# Every test in these files loads the ONNX model, spawns processes or serves on loopback.
SLOW_FILES = frozenset(
    {
        "integrations/langchain/tests/test_langchain_embeddings.py",
        "tests/compat/test_litellm_auto_router.py",
        "tests/compat/test_sr_real.py",
        "tests/encoders/test_onnx.py",
        "tests/index/test_pinecone.py",
        "tests/index/test_qdrant.py",
        "tests/reliability/test_local_crash.py",
        "tests/reliability/test_local_fuzz.py",
        "tests/reliability/test_local_soak.py",
        "tests/reliability/test_remote_kill9.py",
        "tests/server/test_app.py",
        "tests/server/test_schema.py",  # schemathesis over the whole API
        "tests/servers/test_servers.py",
        "tests/sync/test_no_mirror.py",
        "tests/sync/test_sync_backends.py",
        "tests/test_calibration_onnx.py",
        "tests/test_examples_core.py",
        "tests/test_examples_langchain.py",
        "tests/test_examples_llamaindex.py",
        "tests/test_routing_onnx.py",
    }
)

# Single tests (any parametrisation) that do, in files that are otherwise fast.
SLOW_TESTS = frozenset(
    {
        "tests/cli/test_commands.py::test_route_reads_stdin_and_stays_quiet",
        "tests/cli/test_commands.py::test_sync_diff_is_synced",
        "tests/cli/test_serve.py::test_serve_answers_and_stops",
        "tests/index/test_foreign_layout.py::test_pinecone_layout_semantic_router_reads_it",
        "tests/index/test_foreign_layout.py::test_pinecone_semantic_router_index_is_refused_not_empty",
        "tests/index/test_local.py::test_acknowledged_writes_survive_normal_exit",
        "tests/index/test_local.py::test_kill_mid_write_leaves_no_half_route",
        "tests/reliability/test_local_store.py::test_each_process_sees_the_others_writes",
        "tests/reliability/test_local_store.py::test_same_name_added_by_two_processes_is_not_overwritten",
        "tests/reliability/test_remote_converge.py::test_the_issue_repro_converges",
        "tests/reliability/test_remote_partial_writes.py::test_pinecone_metadata_over_40kb_uploads_nothing",
        "tests/server/test_concurrency.py::test_64_concurrent_clients_get_batched_encoder_calls",
        "tests/server/test_sync.py::test_diff_then_sync_then_synced",
        "tests/sync/test_agents.py::test_four_agents_see_a_new_route_without_restart",
        "tests/test_async_router.py::test_hot_updates_under_10000_concurrent_turns",
        "tests/test_cli.py::test_plot_is_written",  # matplotlib
        "tests/test_cli.py::test_python_dash_m_runs_the_cli",
        "tests/test_quality.py::test_fit_with_the_real_encoder",
        # loopback servers or many threads: a few seconds each on 2 cores
        "tests/sync/test_digests.py::test_restart_round_trips_grow_with_the_changed_routes_only",
        "tests/test_table.py::test_readers_never_see_a_half_write",
        "tests/test_async_router.py::test_concurrent_turns_share_encoder_calls_and_equal_sequential",
        "tests/reliability/test_remote_converge.py::test_two_routers_sharing_one_embedded_client_all_adds_succeed",
        "tests/reliability/test_remote_converge.py::test_the_change_log_stays_small_and_a_reader_behind_it_pulls_everything",
        "tests/reliability/test_remote_lost_updates.py::test_four_threads_of_add_utterances_keep_all_101",
    }
)


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            path = item.path.resolve().relative_to(ROOT).as_posix()
        except ValueError:
            continue
        if path in SLOW_FILES or f"{path}::{item.name.split('[')[0]}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A listed test that no longer exists would silently leave the tier: say so."""
    missing = sorted(p for p in SLOW_FILES if not (ROOT / p).is_file())
    if missing:
        raise pytest.UsageError(f"conftest.py lists missing slow test files: {missing}")
