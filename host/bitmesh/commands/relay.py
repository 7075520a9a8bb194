"""``bitmesh relay report DIR``: relay credits per node from collected logs.

Reads every ``*.jsonl`` (and ``*.log``) file under DIR, as written by
``bitmesh logs``: one JSON object per line, an ``Event.to_dict()`` with
``"node"`` and ``"t"`` keys. Credits are the treasury's ``credit`` service
events (``{"event": "service", "service": "credits", "name": "credit",
"relay": <short id hex>, "packet": ..., "dest": ...}``); ``forged`` events
are counted per claimant. Lines that are not JSON objects are skipped and
counted, never fatal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bitmesh.errors import UsageError


def tally(root: Path) -> dict[str, Any]:
    """Credits per relay short id, forged claims per claimant, and counts."""
    if not root.exists():
        raise UsageError(f"no such directory: {root}")
    files = sorted(p for p in (root.rglob("*") if root.is_dir() else [root])
                   if p.is_file() and p.suffix in (".jsonl", ".log", ".json"))
    credits: dict[str, int] = {}
    forged: dict[str, int] = {}
    treasuries: set[str] = set()
    seen: set[tuple[str, str]] = set()
    bad = 0
    lines = 0
    for f in files:
        with f.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                lines += 1
                try:
                    ev = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if not isinstance(ev, dict) or ev.get("service") != "credits":
                    continue
                if ev.get("name") == "credit":
                    key = (str(ev.get("relay")), str(ev.get("packet")))
                    if key in seen:  # two treasuries, or a log collected twice
                        continue
                    seen.add(key)
                    credits[key[0]] = credits.get(key[0], 0) + 1
                    treasuries.add(str(ev.get("node", "?")))
                elif ev.get("name") == "forged":
                    by = str(ev.get("by", "?"))
                    forged[by] = forged.get(by, 0) + 1
    return {"files": len(files), "lines": lines, "unparsed": bad,
            "treasuries": sorted(treasuries),
            "credits": dict(sorted(credits.items(), key=lambda kv: (-kv[1], kv[0]))),
            "forged": dict(sorted(forged.items())),
            "total": sum(credits.values())}


@click.group("relay")
def relay_group() -> None:
    """Relay credits (proof of relay) tallied by treasury nodes."""


@relay_group.command("report")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def report(directory: Path, as_json: bool) -> None:
    """Print relay credits per node from the JSONL logs in DIRECTORY."""
    r = tally(directory)
    if as_json:
        click.echo(json.dumps(r, indent=2))
        return
    t = Table(title=f"relay credits ({r['total']} accepted, {len(r['forged'])} forgers)")
    t.add_column("relay (short id)")
    t.add_column("credits", justify="right")
    for k, v in r["credits"].items():
        t.add_row(k, str(v))
    con = Console()
    con.print(t)
    if r["forged"]:
        con.print("forged claims rejected: " + ", ".join(
            f"{k}: {v}" for k, v in r["forged"].items()))
    con.print(f"{r['files']} files, {r['lines']} lines, {r['unparsed']} unparsed")


def register(group: click.Group) -> None:
    group.add_command(relay_group)
