"""``python -m core predict FILE... [--model NAME[@alias|/version]] [--json]``."""
from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    """Add ``predict`` to ``python -m core``."""
    p = subparsers.add_parser(
        "predict", help="predict the genre of audio files with registered models",
        description="Top genre and per-genre probabilities of each FILE (MP3, WAV, FLAC, OGG, Opus, AIFF). "
                    "Without --model, the champion of each registered model answers (its newest version, "
                    "with a note, while it has none; `python -m core models promote` chooses). "
                    "Exit status 1 when any file failed.")
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files")
    p.add_argument("--model", metavar="NAME[@alias|/version]",
                   help="a registered model: NAME (its champion), NAME@alias or NAME/version")
    p.add_argument("--json", action="store_true", help="one JSON object per file and model, one per line")
    p.set_defaults(func=run_predict)


def run_predict(args) -> int:
    from core.registry import fallback_note
    from core.serving import predictor

    models = predictor.list_models()
    chosen = [predictor.resolve(args.model, models)] if args.model else predictor.default_models(models)
    for note in filter(None, (fallback_note(info, args.model) for info in chosen)):
        print(f"note: {note}", file=sys.stderr, flush=True)
    failed = False
    for path in args.files:
        shown_errors = set()  # a file every model rejects (not audio, silent...) is reported once
        for info in chosen:
            result = predictor.predict_file(path, info)
            failed |= "error" in result
            if args.json:
                print(json.dumps(result), flush=True)
            elif "error" in result:
                if result["error"] not in shown_errors:
                    print(f"error: {result['error']}", file=sys.stderr, flush=True)
                    shown_errors.add(result["error"])
            else:
                print(format_result(result), flush=True)
    return 1 if failed else 0


def format_result(result: dict, top_n: int = 3, top_tags: int = 5) -> str:
    """A few readable lines of a successful result: file, model, top genres, segments, the clip's top
    tags (zero-shot models: one line per tagger), how calibrated the probabilities are, time taken."""
    ranked = sorted(result["probabilities"].items(), key=lambda kv: -kv[1])[:top_n]
    lines = [f"{result['file']}  [{result['model']}]  {result['top']}"] + [f"  {genre:<24} {p:6.1%}" for genre, p in ranked]
    if result["segments"]:
        lines.append(f"  {len(result['segments'])} segments, {result['segments'][-1]['end']:.0f} s analysed")
    for tagger, tags in (result.get("tags") or {}).items():
        strongest = sorted(tags.items(), key=lambda kv: -kv[1])[:top_tags]
        lines.append(f"  {tagger} tags: " + ", ".join(f"{tag} {p:.0%}" for tag, p in strongest))
    if result.get("calibration"):
        lines.append(f"  probabilities: {result['calibration']}")
    lines.append(f"  ({result['seconds']:.2f} s)")
    return "\n".join(lines)
