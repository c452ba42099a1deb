"""The body of `gradkit export` (gradkit/cli.py holds only its wrapper)."""
from __future__ import annotations

from pathlib import Path


def export_command(console, run_dir: Path, format: str, out: Path | None, data_dir: str | None) -> None:
    from gradkit.export import export

    record = export(run_dir, format, out, data_dir)
    check = record["check"]
    console.print(f"{format}: [bold]{record['path']}[/]", soft_wrap=True, highlight=False)
    console.print(f"checked on {check['n_examples']} test examples: max abs difference "
                  f"{check['max_abs_diff']:.3g} (tolerance {check['atol']:g} + {check['rtol']:g} x |value|)",
                  highlight=False)
