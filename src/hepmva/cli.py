"""The ``hepmva`` command line (installed with the package, ``[project.scripts]``).

    hepmva apply MODEL_DIR FILES... -o OUT [--tree Events] [--classifier NAME ...]
                 [--fold-mode fold|mean] [--trained-as SAMPLE] [--selection EXPR]
                 [--friend-tree hepmva] [--step-size "4 MB"] [--log FILE]

MODEL_DIR is the bundle a study writes (its ``results/models`` directory, or one classifier's
directory inside it). One friend tree per input file is written to OUT (``{i}_{file}.root``, tree
``hepmva``: ``event``, ``selected``, ``fold``, ``score_<classifier>``, the spectators) with
``friends.json`` listing them. Bad input prints one line and exits with status 2; ``--log`` keeps
the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from hepmva import io
from hepmva.errors import HepmvaError
from hepmva.logs import log_to
from hepmva.stages.apply import apply_files

__all__ = ["main"]

log = logging.getLogger("hepmva.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hepmva", description="hepmva command line tools")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("apply", help="score ROOT files with a study's model bundle; write friend trees",
                       description="Score ROOT files with a study's model bundle and write one entry-aligned friend "
                                   "tree per input file.")
    p.add_argument("model_dir", metavar="MODEL_DIR",
                   help="a study's results/models directory, or one classifier's directory inside it")
    p.add_argument("files", metavar="FILES", nargs="+", help="input ROOT files (globs allowed)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output directory of the friend trees")
    p.add_argument("--tree", default="Events", help="TTree path in the input files (default: Events)")
    p.add_argument("--classifier", action="append", metavar="NAME",
                   help="classifier to apply (repeatable; default: every classifier of the bundle)")
    p.add_argument("--fold-mode", choices=["fold", "mean"], default="fold",
                   help="fold: the fold model picked by the event-id hash, the one that did not train on a "
                        "training event (default; TMVA SplitExpr); mean: average of the k fold models "
                        "(TMVA OutputEnsembling=Avg)")
    p.add_argument("--trained-as", metavar="SAMPLE",
                   help="the files are (more of) this training sample: apply its selection too (forces --fold-mode fold)")
    p.add_argument("--selection", metavar="EXPR", help="extra selection (safe expression), AND-ed with the study's")
    p.add_argument("--friend-tree", default="hepmva", help="name of the friend trees (default: hepmva)")
    p.add_argument("--step-size", default=io.DEFAULT_STEP_SIZE,
                   help=f'chunk size: entries or memory such as "{io.DEFAULT_STEP_SIZE}" (default)')
    p.add_argument("--log", metavar="FILE", help="also write the log (and any traceback) to FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hepmva``; returns the exit status."""
    args = _parser().parse_args(argv)
    log_to(args.log)
    try:
        step = int(args.step_size) if str(args.step_size).isdigit() else args.step_size
        records = apply_files(args.model_dir, args.files, args.output, tree=args.tree, friend_tree=args.friend_tree,
                              fold_mode=args.fold_mode, classifiers=args.classifier, trained_as=args.trained_as,
                              selection=args.selection, step_size=step)
    except HepmvaError as exc:  # InputError, BundleError, ExpressionError, ...: one line on the terminal
        root = logging.getLogger()  # the traceback goes to --log only
        root.handlers[:] = [h for h in root.handlers if isinstance(h, logging.FileHandler)] or [logging.NullHandler()]
        log.error("hepmva apply failed", exc_info=True)
        print(f"hepmva apply: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    n = sum(r["entries"] for r in records)
    print(f"hepmva apply: {len(records)} friend tree(s), {n} entries, in {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
