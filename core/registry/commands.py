"""``python -m core models [--json]``, ``models promote NAME VERSION``, ``models serve NAME[/VERSION|@alias]``."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

DEFAULT_SERVE_PORT = 5001


def register(subparsers) -> None:
    """Add ``models`` (list, promote, serve) to ``python -m core``."""
    p = subparsers.add_parser(
        "models", help="list registered models with their cards, promote a champion, serve one over HTTP",
        description="Without a sub-command: every registered version with what its card says (input kind, "
                    "window, training data, test accuracy with its 95% interval, expected calibration error "
                    "of its probabilities, what it was measured on and the range a perfectly calibrated model would "
                    "score on as many tracks, source run).")
    p.add_argument("--json", action="store_true", help="one JSON list instead of the table")
    p.set_defaults(func=run_list)
    sub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    promote = sub.add_parser("promote", help="make VERSION the champion of NAME (what predict and serve use)")
    promote.add_argument("name")
    promote.add_argument("version")
    promote.set_defaults(func=run_promote)
    serve = sub.add_parser("serve", help="serve a registered model over HTTP with `mlflow models serve`",
                           description="POST /invocations on 127.0.0.1:PORT (GET /health when ready). NAME alone "
                                       "serves its champion.")
    serve.add_argument("model", metavar="NAME[/VERSION|@alias]")
    serve.add_argument("--port", type=int, default=DEFAULT_SERVE_PORT, help=f"default {DEFAULT_SERVE_PORT}")
    serve.set_defaults(func=run_serve)
    zeroshot = sub.add_parser("register-zeroshot", help="register genre-zeroshot: pretrained musicnn tags mapped "
                                                        "to FMA's genres (not trained on your data)")
    zeroshot.add_argument("--name", default="genre-zeroshot")
    zeroshot.add_argument("--taggers", nargs="+", default=["MSD_musicnn", "MTT_musicnn"], metavar="MODEL")
    zeroshot.add_argument("--mapping", help="tag -> genre table (TOML; default: core/serving/zeroshot_genres.toml)")
    zeroshot.add_argument("--if-missing", action="store_true", help="do nothing if NAME already has a version")
    zeroshot.set_defaults(func=run_register_zeroshot)


def _versions():
    from core import tracking
    from core.registry import list_versions

    tracking.configure()
    return list_versions()


def as_dict(version) -> dict:
    """A version as JSON-ready data: name, version, aliases and its card's fields (or its problem)."""
    head = {"name": version.name, "version": version.version, "aliases": list(version.aliases)}
    return {**head, **asdict(version.card)} if version.card is not None else {**head, "problem": version.problem}


def table(versions) -> str:
    """One line per version: what it is, how good, trained on what, by which run."""
    from core.calibration import calibrated_range

    header = ("MODEL", "ALIASES", "INPUT", "WINDOW", "FAMILY", "TEST ACCURACY [95% CI]", "ECE (ON), A CALIBRATED MODEL'S", "DATA",
              "FINGERPRINT", "RUN")
    rows = []
    for v in versions:
        aliases = " ".join(f"@{a}" for a in v.aliases) or "-"
        if v.card is None:
            rows.append((v.ref, aliases, "-", "-", "-", v.problem, "-", "-", "-", "-"))
            continue
        c = v.card
        data = f"{c.dataset or '?'}{' (synthetic)' if c.synthetic else ''}"
        ece = f"{c.calibration['ece']:.3f} ({c.calibration.get('scored_on', '?')})" if c.calibration else "-"
        if c.calibration and calibrated_range(c.calibration):
            ece += f", calibrated {calibrated_range(c.calibration)}"
        rows.append((v.ref, aliases, c.input_kind, c.window, c.family, c.accuracy_text, ece, data,
                     c.fingerprint[:12] or "-", c.run_id[:12] or "-"))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(cell).ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header, *rows])


def run_list(args) -> int:
    versions = _versions()
    if args.json:
        print(json.dumps([as_dict(v) for v in versions], indent=1))
    elif not versions:
        from core.registry.versions import NO_MODEL_MESSAGE

        print(NO_MODEL_MESSAGE)
    else:
        print(table(versions))
    return 0


def run_promote(args) -> int:
    from core import tracking
    from core.registry import promote

    tracking.configure()
    previous = promote(args.name, args.version)
    was = f" (was version {previous.version})" if previous is not None else ""
    print(f"{args.name}/{args.version} is the champion of {args.name}{was}")
    return 0


def serve_command(uri: str, port: int) -> list[str]:
    """The ``mlflow models serve`` command line for ``uri``, bound to 127.0.0.1, in this environment."""
    return [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local",
            "--host", "127.0.0.1", "--port", str(port)]


def run_serve(args) -> int:
    from core import tracking
    from core.registry import fallback_note, resolve

    uri = tracking.configure()
    version = resolve(args.model, _versions())
    note = fallback_note(version, args.model)
    if note:
        print(f"note: {note}", file=sys.stderr)
    print(f"serving {version.ref} on http://127.0.0.1:{args.port}/invocations", file=sys.stderr, flush=True)
    # MLflow starts `uvicorn` by name: this environment's scripts folder must come first on PATH.
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    command = serve_command(version.uri, args.port)
    os.execve(command[0], command, env)


def run_register_zeroshot(args) -> int:
    from core.serving import zeroshot  # imports MLflow: only when asked

    return zeroshot.run_register(args)
