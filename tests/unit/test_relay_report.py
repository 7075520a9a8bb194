"""`bitmesh relay report` over collected JSONL logs."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bitmesh.cli import cli


def test_report_counts_credits_once_and_skips_garbage(tmp_path: Path) -> None:
    ev = {"event": "service", "service": "credits", "name": "credit", "relay": "aa",
          "packet": "01", "dest": "bb", "node": "n14", "t": 1}
    lines = [json.dumps(ev), json.dumps(ev), json.dumps(dict(ev, packet="02")),
             json.dumps({"event": "service", "service": "credits", "name": "forged",
                         "by": "cc", "node": "n14", "t": 2}), "garbage"]
    (tmp_path / "n14.jsonl").write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(cli, ["relay", "report", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["credits"] == {"aa": 2} and d["forged"] == {"cc": 1} and d["unparsed"] == 1


def test_report_table_output(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text("")
    r = CliRunner().invoke(cli, ["relay", "report", str(tmp_path)])
    assert r.exit_code == 0 and "relay credits" in r.output
