"""The ``fingerpost`` command line: route, thresholds, fit, eval, sync, diff, is-synced,
migrate, serve.

    fingerpost route "what's the weather" --routes routes.yaml
    fingerpost eval --routes routes.yaml --data labelled.jsonl [--fit fit.jsonl] [--plot out.png]
    fingerpost serve --store routes.db --port 8000

``--encoder hash`` (or ``FINGERPOST_ENCODER=hash``) swaps the ONNX model for the deterministic
test encoder; it exists for tests and demos without a model.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from .._exceptions import FingerpostError, InvalidInputError
from ._errors import EXIT_ERROR, EXIT_USAGE, CliError
from ._report import PLOT_HINT

__all__ = ["PLOT_HINT", "CliError", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    User mistakes are one line on stderr and a non-zero status; ``--debug`` (anywhere on the
    line) shows the traceback instead.
    """
    from ._commands import cli

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="fingerpost", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        _say("aborted", debug)
        return 130
    except CliError as exc:
        _say(str(exc), debug)
        return exc.status
    except FingerpostError as exc:
        _say(f"{type(exc).__name__}: {exc}", debug)
        return EXIT_USAGE if isinstance(exc, InvalidInputError) else EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR  # the reader went away (| head): nothing more to say
    except Exception as exc:
        _say(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", debug)
        return EXIT_ERROR
    return result if isinstance(result, int) else 0


def _say(message: str, debug: bool) -> None:
    if debug:
        traceback.print_exc(file=sys.stderr)
    first = message.strip().splitlines()[0] if message.strip() else "error"
    print(f"fingerpost: {first}", file=sys.stderr)
