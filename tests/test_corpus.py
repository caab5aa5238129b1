"""Golden tests: each folder of tests/corpus is a broken app; `jxc check` must print exactly expected.txt.

Every case has one app under apps/ (and maybe modules). To add a case, write the files, run
`JXC_WRITE_GOLDEN=1 pytest tests/test_corpus.py -k CASE`, then read the new expected.txt line by line before
committing it: it is the message an admin will see.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.cli import main

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_broken_app_gives_the_expected_messages(case, monkeypatch, capsys):
    folder = CORPUS / case
    monkeypatch.chdir(folder)
    apps = [p for p in (folder / "apps").iterdir() if p.is_dir() and p.name != "modules"]
    assert len(apps) == 1, f"{case} must hold exactly one app"
    code = main(["check", f"apps/{apps[0].name}"])
    output = capsys.readouterr().out
    expected_file = folder / "expected.txt"
    if os.environ.get("JXC_WRITE_GOLDEN"):
        expected_file.write_text(output, encoding="utf-8")
    assert code == 1, "a broken app must fail the check"
    assert "Traceback" not in output
    assert output == expected_file.read_text(encoding="utf-8")
