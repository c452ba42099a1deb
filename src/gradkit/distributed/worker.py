"""One rank of a `gradkit train --nproc N` run, as torchrun's agent starts it:

    python -m gradkit.distributed.worker --config RESOLVED.yaml [--quiet]
    python -m gradkit.distributed.worker --resume RUN_DIR [--quiet]

A gradkit error is printed once, prefixed with the rank, and written to torchrun's error file,
so the launcher can say which rank failed and why.
"""
from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gradkit.distributed.worker")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--config", help="a resolved config (the launcher writes it)")
    which.add_argument("--resume", help="a run directory to continue")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    from torch.distributed.elastic.multiprocessing.errors import ErrorHandler

    from gradkit import engine
    from gradkit.errors import GradkitError

    try:
        if args.resume:
            engine.resume(args.resume, verbose=not args.quiet)
        else:
            engine.execute(engine.load_file(args.config), verbose=not args.quiet)
    except GradkitError as exc:
        print(f"gradkit: rank {os.environ.get('RANK', '?')}: error: {exc}", file=sys.stderr, flush=True)
        ErrorHandler().record_exception(exc)
        return 2
    except KeyboardInterrupt:  # Ctrl-C reaches every rank; the launcher says it once
        return 130
    except BaseException as exc:
        ErrorHandler().record_exception(exc)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
