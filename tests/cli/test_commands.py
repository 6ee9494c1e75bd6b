"""The shell: route, fit, sync/diff/is-synced against a loopback Qdrant, --version, --help,
one-line errors (a traceback only with --debug), quiet output when stdout is not a terminal."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from fingerpost import Route, SemanticRouter, __version__
from fingerpost.cli import main
from fingerpost.encoders.testing import HashEncoder

from ..conftest import CHITCHAT, POLITICS
from ..test_quality import FIT, ROUTES, TEST

HASH = ["--encoder", "hash"]
COMMANDS = ["route", "thresholds", "fit", "eval", "sync", "diff", "is-synced", "serve"]


def _routes() -> list[Route]:
    return [Route(name=n, utterances=u) for n, u in ROUTES.items()]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    SemanticRouter(routes=_routes(), encoder=HashEncoder(128)).to_yaml(path)
    return path


def _jsonl(path: Path, rows: list[tuple[str, str | None]]) -> Path:
    path.write_text(
        "".join(json.dumps({"text": t, "label": g}) + "\n" for t, g in rows), encoding="utf-8"
    )
    return path


# ---- route ---------------------------------------------------------------------------------
def test_route_one_turn(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    router = SemanticRouter.from_yaml(config, encoder=HashEncoder(128))
    text = TEST[0][0]
    want = router(text)
    assert main(["route", text, "--routes", str(config), *HASH, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"text": text, **want.model_dump(mode="json")}
    assert main(["route", text, "--routes", str(config), *HASH]) == 0
    out = capsys.readouterr().out.strip()
    assert out == (f"{want.name}\t{want.similarity_score:.3f}" if want.name else "(no route)")
    assert main(["route", "zzqx vvbn", "--routes", str(config), *HASH]) == 0
    assert capsys.readouterr().out.strip() == "(no route)"


def test_route_a_file_in_batches(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fingerpost.cli import _commands

    monkeypatch.setattr(_commands, "ROUTE_CHUNK", 5)  # several batches from a small file
    texts = [t for t, _ in TEST]
    turns = tmp_path / "turns.txt"
    turns.write_text("\n".join(texts[:8]) + "\n\n" + "\n".join(texts[8:]) + "\n", encoding="utf-8")
    assert (
        main(["route", "--file", str(turns), "--routes", str(config), *HASH, "--limit", "2"]) == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    router = SemanticRouter.from_yaml(config, encoder=HashEncoder(128))
    assert [r["text"] for r in rows] == texts  # the blank line is skipped
    assert [r["choices"] for r in rows] == [
        [c.model_dump(mode="json") for c in cs] for cs in router.batch(texts, limit=2)
    ]


def test_route_reads_stdin_and_stays_quiet(config: Path) -> None:
    texts = [t for t, _ in TEST[:4]]
    done = subprocess.run(
        [sys.executable, "-m", "fingerpost", "route", "--file", "-", "--routes", str(config)],
        input="\n".join(texts) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**_env(), "FINGERPOST_ENCODER": "hash"},
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["text"] for line in done.stdout.splitlines()] == texts
    assert done.stderr == ""  # no progress bar: stdout is not a terminal


def test_route_from_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fingerpost.index import LocalIndex

    db = tmp_path / "routes.db"
    with SemanticRouter(
        routes=_routes(), encoder=HashEncoder(128), index=LocalIndex(path=db)
    ) as router:
        want = router(TEST[0][0])
    assert main(["route", TEST[0][0], "--store", str(db), *HASH, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == want.name


# ---- fit -----------------------------------------------------------------------------------
def test_fit_saves_what_it_fitted(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _jsonl(tmp_path / "fit.jsonl", FIT)
    out = tmp_path / "fitted.yaml"
    assert (
        main(["fit", "--routes", str(config), "--data", str(data), "--out", str(out), *HASH]) == 0
    )
    printed = capsys.readouterr().out
    assert "fit (balanced" in printed and f"fitted router written to {out}" in printed
    fitted = SemanticRouter.from_yaml(out, encoder=HashEncoder(128))
    direct = SemanticRouter.from_yaml(config, encoder=HashEncoder(128))
    direct.fit([t for t, _ in FIT], [g for _, g in FIT])
    assert fitted.get_thresholds() == pytest.approx(direct.get_thresholds())
    assert fitted.to_config().fit_state is not None
    texts = [t for t, _ in TEST]
    assert [c.name for c in fitted.batch(texts)] == [c.name for c in direct.batch(texts)]


def test_fit_refuses_bad_data_and_nowhere_to_save(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _jsonl(tmp_path / "fit.jsonl", FIT)
    assert main(["fit", "--routes", str(config), "--data", str(data), *HASH]) == 2
    assert "nowhere to save" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "intent": "weather"}\n', encoding="utf-8")
    out = tmp_path / "fitted.yaml"
    assert main(["fit", "--routes", str(config), "--data", str(bad), "--out", str(out), *HASH]) == 2
    assert "bad.jsonl:1: unknown key 'intent'" in capsys.readouterr().err
    assert not out.exists()


# ---- sync, diff, is-synced over qdrant:// --------------------------------------------------
@pytest.fixture
def qdrant_url() -> Iterator[str]:
    pytest.importorskip("qdrant_client")
    from ..servers.qdrant_rest import QdrantTestServer

    with QdrantTestServer() as srv:
        yield srv.url.replace("http://", "qdrant://") + "/routes"


def test_sync_diff_is_synced(
    tmp_path: Path, qdrant_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        yaml.safe_dump([{"name": "chitchat", "utterances": CHITCHAT}]), encoding="utf-8"
    )
    theirs = tmp_path / "theirs.yaml"
    theirs.write_text(
        yaml.safe_dump([{"name": "politics", "utterances": POLITICS}]), encoding="utf-8"
    )
    args = ["--index", qdrant_url, *HASH]
    assert main(["sync", "--routes", str(theirs), *args, "--mode", "local"]) == 0
    capsys.readouterr()

    assert main(["is-synced", "--routes", str(mine), *args]) == 1
    assert capsys.readouterr().out.strip() == "not synced"
    assert main(["diff", "--routes", str(mine), *args]) == 0
    lines = set(capsys.readouterr().out.splitlines())
    assert lines == {f"+ politics: {u}" for u in POLITICS} | {f"- chitchat: {u}" for u in CHITCHAT}

    assert main(["sync", "--routes", str(mine), *args, "--mode", "error"]) == 1
    assert "SyncConflictError" in capsys.readouterr().err
    assert main(["sync", "--routes", str(mine), *args, "--mode", "merge"]) == 0
    captured = capsys.readouterr()
    assert set(captured.out.splitlines()) == lines
    assert f"synced (merge): {len(lines)} differences resolved" in captured.err

    merged = tmp_path / "merged.yaml"
    merged.write_text(
        yaml.safe_dump(
            [
                {"name": "chitchat", "utterances": CHITCHAT},
                {"name": "politics", "utterances": POLITICS},
            ]
        ),
        encoding="utf-8",
    )
    assert main(["is-synced", "--routes", str(merged), *args]) == 0
    assert main(["diff", "--routes", str(merged), *args]) == 0
    assert capsys.readouterr().out == "synced\n"
    assert main(["route", POLITICS[0], *args, "--json"]) == 0  # routes pulled from the remote
    assert json.loads(capsys.readouterr().out)["name"] == "politics"


def test_sync_needs_an_index(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--routes", str(config), *HASH]) == 2
    assert "needs --index" in capsys.readouterr().err
    assert main(["diff", "--routes", str(config), "--index", "redis://x/y", *HASH]) == 2
    assert "expected qdrant://host:port/collection" in capsys.readouterr().err


# ---- the shell itself ----------------------------------------------------------------------
def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example:" in out and f"fingerpost {command}" in out.split("Example:")[1]


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in COMMANDS)


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["route", "--routes", "x.yaml"], 2, "give one turn as TEXT"),
        (["route", "hi"], 2, "say where the routes are"),
        (["route", "hi", "--routes", "missing.yaml"], 1, "cannot read missing.yaml"),
        (["route", "hi", "--store", "a.db", "--index", "qdrant://h:1/c"], 2, "give one"),
        (["route", "hi", "--limit", "0", "--routes", "x.yaml"], 2, "--limit"),
        (["nope"], 2, "No such command"),
    ],
)
def test_mistakes_are_one_line_without_traceback(
    argv: list[str],
    status: int,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*argv, *HASH] if argv[0] != "nope" else argv) == status
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_library_errors_are_one_line_and_debug_shows_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.yaml"
    SemanticRouter(routes=_routes(), encoder=HashEncoder(64)).to_yaml(other)
    assert main(["route", "hi", "--routes", str(other), *HASH, "--encoder", "default"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "EncoderMismatchError" in err and "Traceback" not in err
    assert (
        main(["route", "hi", "--routes", str(other), *HASH, "--encoder", "default", "--debug"]) == 1
    )
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_progress_is_drawn_only_for_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from fingerpost.cli._progress import Progress, ProgressEncoder

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert not Progress.for_terminal(quiet=False).enabled  # pytest captures stdout: not a tty
    out, err = Tty(), Tty()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    assert not Progress.for_terminal(quiet=True).enabled
    inner = HashEncoder(32)
    texts = [f"text number {i}" for i in range(600)]
    with Progress.for_terminal(quiet=False) as progress:
        assert progress.enabled
        chunked = ProgressEncoder(inner, progress)(texts)
    assert inner.calls == 3  # 256 + 256 + 88: the bar moves per chunk
    assert chunked == pytest.approx(HashEncoder(32)(texts))
    assert "encoding 600 texts" in err.getvalue() and out.getvalue() == ""


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "FINGERPOST_ENCODER"}


def test_a_configs_target_fpr_holds_over_a_remote_index(tmp_path: Path, qdrant_url: str) -> None:
    """Regression: with ``--index`` the shell built the router from the config's fields but
    left out its ``target_fpr``, so a config asking for 5 % calibrated at the default 1 %
    over a remote and at 5 % from ``--routes`` alone."""
    from fingerpost import RouterConfig
    from fingerpost.cli._sources import Sources

    config = tmp_path / "routes.yaml"
    routes = [Route(name="politics", utterances=POLITICS)]
    config.write_text(
        yaml.safe_dump(RouterConfig(routes=routes, target_fpr=0.05).to_dict()), encoding="utf-8"
    )
    for sources in (
        Sources(routes=config, encoder="hash"),
        Sources(routes=config, index=qdrant_url, encoder="hash"),
    ):
        router = sources.router()
        try:
            assert router.to_config().target_fpr == 0.05
        finally:
            router.close()


def test_background_turns_from_a_file_calibrate_and_a_store_remembers_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--background FILE`` (route, eval, fit, serve): the user's turns join the shipped
    corpus; a store remembers them, so a later command over the store without the flag (or
    the HTTP service) calibrates alike. An unreadable or empty file is a usage error."""
    from fingerpost import _background
    from fingerpost.index import LocalIndex

    monkeypatch.setenv("FINGERPOST_CACHE_DIR", str(tmp_path / "cache"))
    turns = tmp_path / "turns.txt"
    turns.write_text("check my balance\n\norder a pizza\ncli background test\n", encoding="utf-8")
    store = tmp_path / "routes.db"
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        yaml.safe_dump([{"name": "politics", "utterances": POLITICS}]), encoding="utf-8"
    )
    want = _background.make_background(["check my balance", "order a pizza", "cli background test"])
    args = ["route", "vote for me", *HASH, "--store", str(store)]
    assert main([*args, "--routes", str(routes), "--background", str(turns)]) == 0
    assert main(args) == 0  # the store's remembered turns, no flag
    capsys.readouterr()
    with SemanticRouter(encoder=HashEncoder(128), index=LocalIndex(store)) as router:
        state = router.to_config().calibration
        assert state is not None and state.background == want.id
    assert main([*args, "--background", str(tmp_path / "missing.txt")]) != 0
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    assert main([*args, "--background", str(empty)]) == 2
    assert "no turns" in capsys.readouterr().err


def test_thresholds_prints_each_routes_effective_value_and_its_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = tmp_path / "routes.yaml"
    spec = [
        {"name": "politics", "utterances": POLITICS},
        {"name": "chitchat", "utterances": CHITCHAT, "score_threshold": 0.6},
    ]
    routes.write_text(yaml.safe_dump(spec), encoding="utf-8")
    want = SemanticRouter(routes=[Route(**r) for r in spec], encoder=HashEncoder(128))
    assert main(["thresholds", "--routes", str(routes), *HASH, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["thresholds"] == want.get_thresholds()
    assert got["kinds"] == {"politics": "calibrated", "chitchat": "own"}
    assert got["calibration"]["thresholds"] == {"politics": want.get_thresholds()["politics"]}
    assert main(["thresholds", "--routes", str(routes), *HASH]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "politics",
        f"{want.get_thresholds()['politics']:.3f}",
        "calibrated",
    ]
    assert lines[1].split() == ["chitchat", "0.600", "own"]
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(yaml.safe_dump({"routes": spec[:1], "score_threshold": 0.5}), encoding="utf-8")
    assert main(["thresholds", "--routes", str(fixed), *HASH]) == 0
    assert capsys.readouterr().out.split() == ["politics", "0.500", "router"]
    empty = tmp_path / "empty.yaml"
    empty.write_text("[]\n", encoding="utf-8")
    assert main(["thresholds", "--routes", str(empty), *HASH]) == 0
    assert capsys.readouterr().out.strip() == "(no routes)"
