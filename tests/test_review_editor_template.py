"""The section editor's template (issue 19): the text comes first and the '#' help lines
after it, as in git's commit template, so typing at once in vi edits the text and the help
never ends up in the section."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pexpect
import pytest
from review_helpers import make_caption, queue, write_merged

from any2capins.cli import main
from any2capins.config.review import ReviewConfig
from any2capins.review.decisions import audit_trail
from any2capins.review.enqueue import enqueue
from any2capins.review.interactive import Session
from any2capins.review.leases import claim

# What vi does when the annotator presses `i` and types at once: the cursor is on line 1,
# column 1, so the words go in front of the first line. The script also keeps a copy of the
# file as the editor saw it.
TYPE_AT_START = """
import shutil, sys
from pathlib import Path
seen, target = Path(sys.argv[1]), Path(sys.argv[2])
shutil.copy(target, seen)
lines = target.read_text().split('\\n')
lines[0] = 'Fixed: ' + lines[0]
target.write_text('\\n'.join(lines))
"""


def _session(tmp_path: Path, editor: str) -> tuple[Session, object]:
    store = queue(tmp_path)
    enqueue(store, [(0, [make_caption("a")])], "all")
    item = claim(store, "alice")
    return Session(store, "alice", str(tmp_path), ReviewConfig(editor=editor)), item


def test_help_lines_come_after_the_text_and_typing_at_once_edits_the_text(tmp_path):
    script = tmp_path / "vi_like.py"
    script.write_text(TYPE_AT_START)
    seen = tmp_path / "seen.txt"
    session, item = _session(tmp_path, f"{sys.executable} {script} {seen}")
    original = item.caption.dense

    text = session.run_editor(item, "dense", original)

    lines = seen.read_text().splitlines()
    assert lines[0] == original  # the editor opens on the text, not on a help line
    assert lines[1] == ""
    assert lines[2].startswith("# Dense caption of clip a") and lines[3].startswith("# Lines")
    assert text.strip() == f"Fixed: {original}"
    assert "#" not in text and "ignored" not in text


def test_a_long_text_wraps_above_the_help_and_comes_back_whole(tmp_path):
    script = tmp_path / "vi_like.py"
    script.write_text(TYPE_AT_START)
    seen = tmp_path / "seen.txt"
    session, item = _session(tmp_path, f"{sys.executable} {script} {seen}")
    long_text = " ".join(f"word{i}" for i in range(60))

    text = session.run_editor(item, "action", long_text)

    body, _, help_part = seen.read_text().partition("\n\n# ")
    assert body.split() == long_text.split() and len(body.splitlines()) > 1
    assert help_part.startswith("Action caption of clip a")
    assert text.split() == ["Fixed:", *long_text.split()]


@pytest.mark.skipif(shutil.which("vi") is None, reason="no vi on this machine")
def test_real_vi_typing_at_once_edits_the_section(tmp_path):
    """The annotator's real gesture: `e`, `1`, then in vi `i`, words, Esc, `:wq`."""
    run = tmp_path / "run"
    write_merged(run, {0: [make_caption("a")]})
    assert main(["review", "enqueue", "--run", str(run)]) == 0
    env = {k: v for k, v in os.environ.items() if k != "VISUAL"}
    env.update(EDITOR="vi -u NONE -n", TERM="xterm")
    child = pexpect.spawn(sys.executable, ["-m", "any2capins.cli", "review", "--run", str(run),
                                           "--annotator", "alice"],
                          env=env, encoding="utf-8", timeout=30, dimensions=(40, 120))
    child.expect("item 1 · clip a")
    child.expect("> ")
    child.send("e")
    child.expect("section\\?")
    child.send("1")
    child.expect("Lines starting with")  # vi shows the file, help lines below the text
    child.send("iChecked by hand. \x1b")
    child.send(":wq\r")
    child.expect(r"1\. Dense caption \[edited\]: Checked by hand\. The dense of clip a")
    child.expect("> ")
    child.send("a")
    child.expect(r"accepted with edits \(dense\)")
    child.expect("> |nothing left")
    child.send("q")
    child.expect(pexpect.EOF)
    child.close()

    (record,) = audit_trail(queue(run))
    assert record.after["dense"].startswith("Checked by hand. The dense of clip a")
    assert "ignored" not in record.after["dense"] and "#" not in record.after["dense"]
