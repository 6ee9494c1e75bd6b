"""``fingerpost eval``: tables, fitting, plots and the errors a user can make (input files
are validated: exit status 2 with the file and line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fingerpost import SemanticRouter
from fingerpost.__main__ import PLOT_HINT, main
from fingerpost.encoders.testing import HashEncoder
from fingerpost.quality import _evaluate as E

from .test_quality import FIT, ROUTES, TEST, routes


def write_jsonl(path: Path, rows: list[tuple[str, str | None]]) -> Path:
    path.write_text(
        "\n".join(json.dumps({"text": t, "label": g}) for t, g in rows) + "\n", encoding="utf-8"
    )
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    config = tmp_path / "routes.yaml"
    SemanticRouter(routes=routes(), encoder=HashEncoder(128)).to_yaml(config)
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        yaml.safe_dump([{"name": n, "utterances": u} for n, u in ROUTES.items()]), encoding="utf-8"
    )
    return {
        "config": config,
        "plain": plain,
        "data": write_jsonl(tmp_path / "test.jsonl", TEST),
        "fit": write_jsonl(tmp_path / "fit.jsonl", FIT),
    }


def test_eval_prints_the_quality_table(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "eval",
                "--routes",
                str(files["config"]),
                "--data",
                str(files["data"]),
                "--encoder",
                "hash",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    router = SemanticRouter(routes=routes(), encoder=HashEncoder(128))
    report = E.evaluation_report(router, [t for t, _ in TEST], [g for _, g in TEST])
    assert "16 turns (12 in scope, 4 out of scope)" in out
    row = next(line for line in out.splitlines() if line.startswith("| as configured"))
    assert f"{100 * report.in_scope_accuracy:.1f} %" in row  # type: ignore[operator]
    assert f"{100 * report.oos_recall:.1f} %" in row  # type: ignore[operator]
    assert "worst 4 routes (as configured)" in out
    assert "most frequent wrong answer" in out


def test_eval_accepts_a_plain_list_of_routes(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "eval",
                "--routes",
                str(files["plain"]),
                "--data",
                str(files["data"]),
                "--encoder",
                "hash",
            ]
        )
        == 0
    )
    assert "| as configured" in capsys.readouterr().out


def test_eval_with_fit_shows_both(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "eval",
        "--routes",
        str(files["config"]),
        "--data",
        str(files["data"]),
        "--encoder",
        "hash",
    ]
    assert main([*argv, "--fit", str(files["fit"])]) == 0
    out = capsys.readouterr().out
    assert "| as configured" in out and "| fitted" in out
    assert "fit (balanced, 5-fold cross-fitting" in out
    assert "worst 4 routes (fitted)" in out


def test_plot_is_written(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "scores.png"
    argv = [
        "eval",
        "--routes",
        str(files["config"]),
        "--data",
        str(files["data"]),
        "--encoder",
        "hash",
    ]
    assert main([*argv, "--fit", str(files["fit"]), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {png}" in capsys.readouterr().out


def test_plot_without_matplotlib_says_how_to_install(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    png = tmp_path / "scores.png"
    argv = [
        "eval",
        "--routes",
        str(files["config"]),
        "--data",
        str(files["data"]),
        "--encoder",
        "hash",
    ]
    assert main([*argv, "--plot", str(png)]) == 2
    assert PLOT_HINT in capsys.readouterr().err
    assert not png.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "hi", "label": "weather"}\nnot json\n', "test.jsonl:2: not JSON"),
        ('{"label": "weather"}\n', "test.jsonl:1: expected"),
        ('{"text": "hi", "label": 3}\n', "label must be a string or null"),
        ("\n", "no labelled turns"),
        (
            '{"text": "hi", "label": "weather"}\n{"text": "hi", "label": "no such route"}\n',
            "test.jsonl:2: label 'no such route' names no route",
        ),
        # a misspelled label key used to read as "0 in scope" and exit 0
        ('{"text": "hi", "intent": "chitchat"}\n', "test.jsonl:1: unknown key 'intent'"),
        (
            '{"text": "hi", "label": "weather"}\n{"text": "  ", "label": null}\n',
            "test.jsonl:2: blank text",
        ),
        ("[1, 2]\n", "test.jsonl:1: expected"),
    ],
)
def test_bad_data_is_reported_in_one_line(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    bad = tmp_path / "test.jsonl"
    bad.write_text(content, encoding="utf-8")
    assert (
        main(["eval", "--routes", str(files["config"]), "--data", str(bad), "--encoder", "hash"])
        == 2
    )
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bad_routes_files_are_reported(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(files["data"])
    assert (
        main(
            [
                "eval",
                "--routes",
                str(tmp_path / "missing.yaml"),
                "--data",
                data,
                "--encoder",
                "hash",
            ]
        )
        == 1
    )
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n", encoding="utf-8")
    assert main(["eval", "--routes", str(scalar), "--data", data, "--encoder", "hash"]) == 2
    # a config made with the hash encoder is refused by another encoder
    other = tmp_path / "other.yaml"
    other.write_text(
        files["config"].read_text().replace("fingerpost-hash-v1-128", "some-other-model")
    )
    assert main(["eval", "--routes", str(other), "--data", data, "--encoder", "hash"]) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "expected a router config" in err and "encoder" in err


def test_bad_fit_data_is_checked_before_any_fitting(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "fit.jsonl"
    bad.write_text('{"text": "hi", "intent": "chitchat"}\n', encoding="utf-8")
    argv = [
        "eval",
        "--routes",
        str(files["config"]),
        "--data",
        str(files["data"]),
        "--encoder",
        "hash",
    ]
    assert main([*argv, "--fit", str(bad)]) == 2
    captured = capsys.readouterr()
    assert "fit.jsonl:1: unknown key 'intent'" in captured.err
    assert "| fitted" not in captured.out and "| as configured" not in captured.out


def test_missing_labels_are_out_of_scope_and_said_once(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "unlabelled.jsonl"
    rows = [
        json.dumps({"text": t, "label": g}) if g is not None else json.dumps({"text": t})
        for t, g in TEST
    ]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert (
        main(["eval", "--routes", str(files["config"]), "--data", str(data), "--encoder", "hash"])
        == 0
    )
    captured = capsys.readouterr()
    n_missing = sum(g is None for _, g in TEST)
    assert captured.err.count("note:") == 1
    assert f'{n_missing} of {len(TEST)} turns in {data} have no "label"' in captured.err
    assert "out of scope" in captured.err
    assert f"({len(TEST) - n_missing} in scope, {n_missing} out of scope)" in captured.out
    # explicit nulls (the fixture's own file) need no note
    assert (
        main(
            [
                "eval",
                "--routes",
                str(files["config"]),
                "--data",
                str(files["data"]),
                "--encoder",
                "hash",
            ]
        )
        == 0
    )
    assert "note:" not in capsys.readouterr().err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "eval" in capsys.readouterr().out


def test_python_dash_m_runs_the_cli(files: dict[str, Path]) -> None:
    argv = [
        "eval",
        "--routes",
        str(files["config"]),
        "--data",
        str(files["data"]),
        "--encoder",
        "hash",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "fingerpost", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "| as configured" in done.stdout
