"""The ``fingerpost`` commands (click). Each one reads its inputs, drives the library and
prints; decisions stay in the library."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from .. import __version__
from ..index.base import RemoteIndex
from ..schema import RouteChoice
from ..sync._plan import SYNC_MODES, check_mode
from ._errors import EXIT_USAGE, CliError
from ._labelled import read_labelled
from ._progress import Progress, ProgressEncoder
from ._report import plot_scores, render, require_matplotlib
from ._sources import ENCODERS, Sources, make_encoder

if TYPE_CHECKING:
    from ..quality._evaluate import EvalReport
    from ..router import SemanticRouter

__all__ = ["cli"]

F = TypeVar("F", bound=Callable[..., Any])

ROUTE_CHUNK = 256
"""Turns per ``router.batch`` call when routing a file: one encoder call, then output."""


def _example(*lines: str) -> str:
    # "\b" keeps click from rewrapping the example.
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)


def _common(fn: F) -> F:
    """--quiet, --debug and the (test) encoder switch, on every command."""
    fn = click.option("--quiet", "-q", is_flag=True, help="no progress bars")(fn)
    fn = click.option("--debug", is_flag=True, help="show the traceback of any error")(fn)
    return click.option(
        "--encoder",
        type=click.Choice(ENCODERS),
        default="default",
        envvar="FINGERPOST_ENCODER",
        show_envvar=True,
        help="default: the ONNX model; hash: the deterministic test encoder (no model, for tests)",
    )(fn)


def _sources(fn: F) -> F:
    fn = click.option(
        "--index", metavar="URL", help="remote index: qdrant://host:6333/name or pinecone://name"
    )(fn)
    fn = click.option(
        "--store",
        type=click.Path(dir_okay=False, path_type=Path),
        help="SQLite store (created if missing)",
    )(fn)
    return click.option(
        "--routes",
        type=click.Path(dir_okay=False, path_type=Path),
        help="router config or list of routes (YAML/JSON)",
    )(fn)


def _background(fn: F) -> F:
    """--background FILE, on the commands that route (route, thresholds, eval, fit, serve)."""
    return click.option(
        "--background",
        type=click.Path(dir_okay=False, path_type=Path),
        help="your own ordinary turns, one per line, joined to the shipped corpus that "
        "calibration measures false positives on (a store remembers them)",
    )(fn)


@contextmanager
def _open(src: Sources, progress: Progress, **kwargs: Any) -> Iterator[SemanticRouter]:
    """The router, its encoder wrapped so long encodings show a bar; closed (with its remote
    index, which the router does not own) on the way out."""
    src.require()
    config = src.config()
    dim = config.encoder_dim if config is not None else None
    encoder = ProgressEncoder(make_encoder(src.encoder, dim), progress)
    with progress.task("loading routes"):
        router = src.router(encoder, config, **kwargs)
    try:
        yield router
    finally:
        router.close()
        if isinstance(router.index, RemoteIndex):
            router.index.close()


@click.group(
    invoke_without_command=True,
    epilog=_example(
        "fingerpost route 'what is the weather like' --routes routes.yaml",
        "fingerpost eval --routes routes.yaml --data labelled.jsonl",
        "fingerpost serve --store routes.db --port 8000",
    ),
)
@click.version_option(__version__, "--version", prog_name="fingerpost")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """fingerpost: a local, zero-token semantic router for LLM agents.

    Every command takes its routes from --routes FILE (YAML/JSON), --store FILE.db (a SQLite
    store) or --index URL (qdrant://host:port/name, pinecone://name). Mistakes get one line
    on stderr and a non-zero exit; --debug shows the traceback.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        ctx.exit(EXIT_USAGE)


# ---- route ---------------------------------------------------------------------------------
def _choice_json(choice: RouteChoice) -> dict[str, Any]:
    return choice.model_dump(mode="json")


def turn_json(text: str, result: RouteChoice | list[RouteChoice], limit: int) -> dict[str, Any]:
    """One output line: the turn and its choice (``limit`` 1) or choices, best first."""
    if limit == 1:
        assert isinstance(result, RouteChoice)
        return {"text": text, **_choice_json(result)}
    assert isinstance(result, list)
    return {"text": text, "choices": [_choice_json(c) for c in result]}


def _read_turns(stream: IO[str]) -> Iterator[list[str]]:
    """Chunks of non-blank lines (without their newline)."""
    chunk: list[str] = []
    for line in stream:
        text = line.rstrip("\r\n")
        if text.strip():
            chunk.append(text)
        if len(chunk) >= ROUTE_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@cli.command(
    epilog=_example(
        "fingerpost route 'how is the weather' --routes routes.yaml",
        "fingerpost route --file turns.txt --store routes.db > choices.jsonl",
        "cat turns.txt | fingerpost route --file - --index qdrant://localhost:6333/routes --limit 3",
    )
)
@click.argument("text", required=False)
@click.option(
    "--file",
    "file",
    type=click.File("r", encoding="utf-8"),
    help="one turn per line ('-': stdin); JSON lines out",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="at most this many passing routes",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON (always on with --file)")
@_background
@_sources
@_common
def route(
    text: str | None,
    file: IO[str] | None,
    limit: int,
    as_json: bool,
    routes: Path | None,
    store: Path | None,
    index: str | None,
    encoder: str,
    background: Path | None,
    debug: bool,
    quiet: bool,
) -> None:
    """Route a turn (or a file of turns) and print the choice."""
    if (text is None) == (file is None):
        raise CliError("give one turn as TEXT, or --file FILE ('-' for stdin)", EXIT_USAGE)
    src = Sources(routes, store, index, encoder, background)
    with Progress.for_terminal(quiet) as progress, _open(src, progress) as router:
        if text is not None:
            result = router(text, limit=limit)
            if as_json:
                click.echo(json.dumps(turn_json(text, result, limit), ensure_ascii=False))
            else:
                click.echo(_human(result))
            return
        assert file is not None
        for chunk in _read_turns(file):
            for turn, result in zip(chunk, router.batch(chunk, limit=limit), strict=True):
                click.echo(json.dumps(turn_json(turn, result, limit), ensure_ascii=False))


@cli.command(
    epilog=_example(
        "fingerpost thresholds --routes routes.yaml     # politics  0.119  calibrated",
        "fingerpost thresholds --store routes.db --json",
    )
)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_background
@_sources
@_common
def thresholds(
    as_json: bool,
    routes: Path | None,
    store: Path | None,
    index: str | None,
    encoder: str,
    background: Path | None,
    debug: bool,
    quiet: bool,
) -> None:
    """Print each route's effective threshold and where it comes from.

    "calibrated": the route's threshold on its gate's own scale (it also passes a turn whose
    similarity reaches the router's threshold); "own": set on the route or by fit; "router":
    the router's fixed threshold.
    """
    src = Sources(routes, store, index, encoder, background)
    with Progress.for_terminal(quiet) as progress, _open(src, progress) as router:
        report = router.threshold_report()
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), ensure_ascii=False))
        return
    if not report.thresholds:
        click.echo("(no routes)")
        return
    width = max(len(n) for n in report.thresholds)
    for name, value in report.thresholds.items():
        click.echo(f"{name:<{width}}  {value:.3f}  {report.kinds[name]}")
    state = report.calibration
    if state is not None and "calibrated" in report.kinds.values():
        click.echo(
            f"(calibrated routes also pass at similarity {report.score_threshold:g}; "
            f"target_fpr {state.target_fpr:g}, background {state.background})"
        )


def _human(result: RouteChoice | list[RouteChoice]) -> str:
    choices = [result] if isinstance(result, RouteChoice) else result
    passing = [c for c in choices if c.name is not None]
    if not passing:
        return "(no route)"
    return "\n".join(f"{c.name}\t{c.similarity_score:.3f}" for c in passing)


# ---- fit and eval --------------------------------------------------------------------------
@cli.command(
    epilog=_example(
        "fingerpost fit --routes routes.yaml --data labelled.jsonl --out fitted.yaml",
        "fingerpost fit --store routes.db --data labelled.jsonl      # saved in the store",
    )
)
@click.option(
    "--data",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='JSONL: {"text": ..., "label": ... or null}',
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the fitted router config here (.yaml or .json)",
)
@click.option(
    "--objective",
    type=click.Choice(["balanced", "accuracy"]),
    default="balanced",
    show_default=True,
)
@_background
@_sources
@_common
def fit(
    data: Path,
    out: Path | None,
    objective: str,
    routes: Path | None,
    store: Path | None,
    index: str | None,
    encoder: str,
    background: Path | None,
    debug: bool,
    quiet: bool,
) -> None:
    """Fit thresholds and a route head on labelled turns; save them."""
    if out is None and store is None and index is None:
        raise CliError(
            "nowhere to save the fit: give --out FILE (or fit a --store/--index in place)",
            EXIT_USAGE,
        )
    labelled = read_labelled(data)
    src = Sources(routes, store, index, encoder, background)
    with Progress.for_terminal(quiet) as progress, _open(src, progress) as router:
        labelled.check_labels(set(router.list_route_names()))
        _note(labelled.missing_note())
        with progress.task(f"fitting on {len(labelled.texts)} turns"):
            report = router.fit(labelled.texts, labelled.labels, objective=objective)  # type: ignore[arg-type]
        if out is not None:
            _save(router, out)
    from ._report import fit_summary

    click.echo(fit_summary(report))
    if out is not None:
        click.echo(f"fitted router written to {out}")


def _save(router: SemanticRouter, out: Path) -> None:
    try:
        if out.suffix.lower() == ".json":
            router.to_json(out)
        else:
            router.to_yaml(out)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from exc


def _note(message: str | None) -> None:
    if message is not None:
        click.echo(message, err=True)


@cli.command(
    "eval",
    epilog=_example(
        "fingerpost eval --routes routes.yaml --data test.jsonl",
        "fingerpost eval --routes routes.yaml --data test.jsonl --fit train.jsonl --plot scores.png",
    ),
)
@click.option(
    "--data",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='JSONL: {"text": ..., "label": ... or null}',
)
@click.option(
    "--fit",
    "fit_data",
    type=click.Path(dir_okay=False, path_type=Path),
    help="fit on this JSONL first (same format), then evaluate",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write score distributions and thresholds to this image",
)
@click.option(
    "--objective",
    type=click.Choice(["balanced", "accuracy"]),
    default="balanced",
    show_default=True,
    help="what --fit maximises",
)
@click.option(
    "--worst",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="how many of the worst routes to list",
)
@_background
@_sources
@_common
def eval_(
    data: Path,
    fit_data: Path | None,
    plot: Path | None,
    objective: str,
    worst: int,
    routes: Path | None,
    store: Path | None,
    index: str | None,
    encoder: str,
    background: Path | None,
    debug: bool,
    quiet: bool,
) -> None:
    """Measure routing quality on a labelled set.

    In-scope accuracy, out-of-scope recall and precision, and the worst routes.
    """
    from ..quality._evaluate import evaluation_report

    if plot is not None:
        require_matplotlib()
    test = read_labelled(data)
    train = read_labelled(fit_data) if fit_data is not None else None
    src = Sources(routes, store, index, encoder, background)
    with Progress.for_terminal(quiet) as progress, _open(src, progress) as router:
        names = set(router.list_route_names())
        for labelled in (test, train):
            if labelled is not None:
                labelled.check_labels(names)
                _note(labelled.missing_note())
        with progress.task(f"evaluating {len(test.texts)} turns"):
            reports: list[tuple[str, EvalReport]] = [
                ("as configured", evaluation_report(router, test.texts, test.labels))
            ]
        fit_report = None
        if train is not None:
            with progress.task(f"fitting on {len(train.texts)} turns"):
                fit_report = router.fit(train.texts, train.labels, objective=objective)  # type: ignore[arg-type]
            with progress.task(f"evaluating {len(test.texts)} turns"):
                reports.append(("fitted", evaluation_report(router, test.texts, test.labels)))
        click.echo(render(reports, fit_report, worst, encoder_name=router.encoder.name))
        if plot is not None:
            plot_scores(router, test.texts, test.labels, plot)
            click.echo(f"\nplot written to {plot}")


# ---- sync, diff, is-synced -----------------------------------------------------------------
@cli.command(
    epilog=_example(
        "fingerpost sync --routes routes.yaml --index qdrant://localhost:6333/routes --mode merge",
        "fingerpost sync --routes routes.yaml --index pinecone://routes --mode local   # PINECONE_API_KEY",
    )
)
@click.option(
    "--mode",
    type=click.Choice(SYNC_MODES),
    default="merge",
    show_default=True,
    help="which side wins where they differ",
)
@_sources
@_common
def sync(
    mode: str,
    routes: Path | None,
    store: Path | None,
    index: str | None,
    encoder: str,
    debug: bool,
    quiet: bool,
) -> None:
    """Make local routes and the remote index equal; print what differed.

    --mode says which side wins where they differ.
    """
    src = Sources(routes, store, index, encoder)
    src.require(index=True)
    with (
        Progress.for_terminal(quiet) as progress,
        _open(src, progress) as router,
        progress.task(f"syncing ({mode})"),
    ):
        lines = router.sync(check_mode(mode))
    for line in lines:
        click.echo(line)
    click.echo(
        f"synced ({mode}): {len(lines)} difference{'s' if len(lines) != 1 else ''} resolved",
        err=True,
    )


@cli.command(
    epilog=_example(
        "fingerpost diff --routes routes.yaml --index qdrant://localhost:6333/routes",
        "  (+ route: utterance   only on the remote; - route: utterance   only here)",
    )
)
@click.option("--metadata", is_flag=True, help="include each utterance's route fields")
@_sources
@_common
def diff(
    metadata: bool,
    routes: Path | None,
    store: Path | None,
    index: str | None,
    encoder: str,
    debug: bool,
    quiet: bool,
) -> None:
    """Print how local routes differ from the remote index.

    "+ route: utterance" is only on the remote, "- route: utterance" only here.
    """
    src = Sources(routes, store, index, encoder)
    src.require(index=True)
    with (
        Progress.for_terminal(quiet) as progress,
        _open(src, progress) as router,
        progress.task("reading the remote"),
    ):
        lines = router.get_utterance_diff(include_metadata=metadata)
    for line in lines:
        click.echo(line)


@cli.command(
    "is-synced",
    epilog=_example(
        "fingerpost is-synced --routes routes.yaml --index qdrant://localhost:6333/routes && echo same",
    ),
)
@_sources
@_common
def is_synced(
    routes: Path | None,
    store: Path | None,
    index: str | None,
    encoder: str,
    debug: bool,
    quiet: bool,
) -> None:
    """Exit 0 when local routes and the remote index are equal, else 1."""
    src = Sources(routes, store, index, encoder)
    src.require(index=True)
    with (
        Progress.for_terminal(quiet) as progress,
        _open(src, progress) as router,
        progress.task("comparing with the remote"),
    ):
        same = router.is_synced()
    click.echo("synced" if same else "not synced")
    if not same:
        raise click.exceptions.Exit(1)


# ---- serve ---------------------------------------------------------------------------------
@cli.command(
    epilog=_example(
        "fingerpost serve --store routes.db --host 0.0.0.0 --port 8000 --token-file token.txt",
        'curl -s localhost:8000/v1/route -d \'{"text": "how is the weather"}\'',
    )
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="bearer token that mutating endpoints require",
)
@click.option("--max-text-chars", type=click.IntRange(min=1), default=4096, show_default=True)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="most turns per /v1/route/batch",
)
@click.option("--max-body-bytes", type=click.IntRange(min=1024), default=1 << 20, show_default=True)
@click.option("--access-log", is_flag=True, help="log every request (costs throughput)")
@_background
@_sources
@_common
def serve(
    host: str,
    port: int,
    token_file: Path | None,
    max_text_chars: int,
    max_batch: int,
    max_body_bytes: int,
    access_log: bool,
    routes: Path | None,
    store: Path | None,
    index: str | None,
    encoder: str,
    background: Path | None,
    debug: bool,
    quiet: bool,
) -> None:
    """Serve the router over HTTP (OpenAPI at /docs).

    Needs pip install 'fingerpost[server]'.
    """
    try:
        from ..server import ServerLimits, create_app, read_token
    except ModuleNotFoundError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    import uvicorn

    token = read_token(token_file) if token_file is not None else None
    src = Sources(routes, store, index, encoder, background)
    limits = ServerLimits(
        max_text_chars=max_text_chars, max_batch=max_batch, max_body_bytes=max_body_bytes
    )
    with ExitStack() as stack:
        with Progress.for_terminal(quiet) as progress:  # a bar while loading, not over the log
            router = stack.enter_context(_open(src, progress))
        app = create_app(router, token=token, limits=limits)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning" if quiet else "info",
            access_log=access_log,
            ws="none",
            lifespan="on",
        )


# ---- migrate -------------------------------------------------------------------------------
from ._migrate import migrate_command  # noqa: E402  (it needs nothing above; kept in its own module)

cli.add_command(migrate_command, name="migrate")
