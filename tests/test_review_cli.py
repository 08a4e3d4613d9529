"""The review CLI: scriptable JSON commands, a core-only import check, and the interactive
mode driven end to end on a pseudo-terminal (pexpect) with a scripted $EDITOR."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pyarrow.parquet as pq
from PIL import Image
from review_helpers import Clock, make_caption, queue, write_merged

from any2capins.cli import main
from any2capins.config.review import ReviewConfig
from any2capins.review.decisions import audit_trail
from any2capins.review.enqueue import enqueue
from any2capins.review.interactive import Session
from any2capins.review.leases import claim

HEAVY = ("torch", "ray", "transformers", "pycolmap", "cv2", "decord", "openai", "av")


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_scriptable_claim_decide_stats_export(tmp_path, capsys, monkeypatch):
    run = str(tmp_path)
    write_merged(tmp_path, {0: [make_caption("a"), make_caption("b", flags=["people_count"])]})
    assert main(["review", "enqueue", "--run", run]) == 0
    assert "2 added" in capsys.readouterr().out
    assert main(["review", "claim", "--run", run, "--annotator", "alice"]) == 0
    claimed = _json(capsys)
    assert claimed["item"]["caption"]["clip_id"] == "b"  # flagged first
    assert claimed["sheet"].endswith("sheets/b.png")

    request = {"item_id": claimed["item"]["item_id"], "version": claimed["version"],
               "action": "edit", "edits": {"style": "Warm light, soft focus."}}
    path = tmp_path / "req.json"
    path.write_text(json.dumps(request))
    assert main(["review", "decide", "--run", run, "--annotator", "bob",
                 "--input", str(path)]) == 1
    assert _json(capsys)["error"] == "lease"  # bob does not hold it
    assert main(["review", "decide", "--run", run, "--annotator", "alice",
                 "--input", str(path)]) == 0
    decision = _json(capsys)["decision"]
    assert decision["edited_sections"] == ["style"]
    assert decision["after"]["style"] == "Warm light, soft focus."
    assert main(["review", "decide", "--run", run, "--annotator", "alice",
                 "--input", str(path)]) == 1
    assert _json(capsys)["error"] == "stale"
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO('{"item_id": 1}'))
    assert main(["review", "decide", "--run", run, "--annotator", "alice"]) == 2
    assert _json(capsys)["error"] == "invalid_request"

    assert main(["review", "stats", "--run", run, "--json"]) == 0
    stats = _json(capsys)
    assert stats["items_by_state"] == {"edited": 1, "pending": 1}
    assert stats["annotators"]["alice"]["edit"] == 1
    assert main(["review", "export", "--run", run]) == 0
    assert "exported 1 approved" in capsys.readouterr().out
    table = pq.read_table(tmp_path / "review" / "decisions" / "shard-00000.parquet")
    assert table.column("style").to_pylist() == ["Warm light, soft focus."]
    assert main(["review", "claim", "--run", run, "--annotator", ""]) == 2
    assert "annotator name is required" in capsys.readouterr().err


def test_review_commands_run_without_heavy_packages(tmp_path):
    """Annotators install only the core package: block the pipeline's heavy packages and run
    every non-interactive review command."""
    write_merged(tmp_path, {0: [make_caption("a"), make_caption("b")]})
    code = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {HEAVY!r}:
            raise ImportError('blocked heavy module ' + name)
sys.meta_path.insert(0, Block())
from any2capins.cli import main
run = {str(tmp_path)!r}
for argv in (['enqueue', '--run', run], ['auto-accept', '--run', run, '--annotator', 'bot'],
             ['claim', '--run', run, '--annotator', 'x'], ['stats', '--run', run],
             ['export', '--run', run]):
    assert main(['review', *argv]) == 0, argv
print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    assert "AUTOMATIC REVIEW as bot: 2 complete captions accepted" in out.stdout


EDITOR = """
import sys
from pathlib import Path
source, target = Path(sys.argv[1]), Path(sys.argv[2])  # $EDITOR's own args, then the file
assert '\\n\\n# ' in target.read_text()  # the section's help comment, below the text
target.write_text('# a comment line, ignored\\n' + source.read_text())
"""
VIEWER = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"


def _spawn(run: Path, tmp_path: Path, edit_source: Path, marker: Path) -> pexpect.spawn:
    (tmp_path / "editor.py").write_text(EDITOR)
    (tmp_path / "viewer.py").write_text(VIEWER)
    env = {k: v for k, v in os.environ.items() if k != "VISUAL"}
    env.update(EDITOR=f"{sys.executable} {tmp_path / 'editor.py'} {edit_source}", TERM="dumb")
    viewer = f"review.viewer={sys.executable} {tmp_path / 'viewer.py'} {marker}"
    return pexpect.spawn(sys.executable, ["-m", "any2capins.cli", "review", "--run", str(run),
                                          "--annotator", "alice", "--set", viewer],
                         env=env, encoding="utf-8", timeout=30, dimensions=(40, 120))


def test_interactive_session_end_to_end(tmp_path):
    run = tmp_path / "run"
    rows = [make_caption("a", flags=["camera_mismatch"]), make_caption("b", missing=["dense"]),
            make_caption("c"), make_caption("d")]
    write_merged(run, {0: rows})
    assert main(["review", "enqueue", "--run", str(run)]) == 0
    (run / "sheets").mkdir()
    Image.new("RGB", (8, 8)).save(run / "sheets" / "a.png")
    edit_source, marker = tmp_path / "edit.txt", tmp_path / "viewer.log"

    child = _spawn(run, tmp_path, edit_source, marker)
    child.expect("item 1 · clip a")
    child.expect("flags:   camera_mismatch")
    child.expect(r"sheet:   \S+/sheets/a\.png")
    child.expect("> ")
    child.send("o")
    child.expect("opened")
    edit_source.write_text("The camera tilts up\nslowly.\n")
    child.send("e")
    child.expect("section\\?")
    child.send("4")
    child.expect(r"4\. Camera caption \[edited\]: The camera tilts up slowly\.")
    child.send("a")
    child.expect(r"accepted with edits \(camera\)")

    child.expect("item 2 · clip b")
    child.expect("missing: dense")
    child.expect("> ")
    child.send("a")
    child.expect("refused: accept needs a complete caption; missing section\\(s\\): dense")
    edit_source.write_text("   \n")
    child.send("e")
    child.send("1")
    child.expect("refused: edit refused: section 'dense': section text is empty")
    edit_source.write_text("A man walks a dog along the beach.")
    child.send("e")
    child.send("1")
    child.expect(r"\[edited\]: A man walks a dog")
    child.send("a")
    child.expect(r"accepted with edits \(dense\)")

    child.expect("item 3 · clip c")
    child.expect("> ")
    child.send("\x1b[A")  # an arrow key is not a command (its final 'A' must not accept)
    child.expect("unknown key '\\\\x1b'")
    child.expect("> ")
    child.send("r")
    child.expect("reason for rejecting")
    child.sendline("too dark to describe")
    child.expect("rejected: item 3")
    child.expect("item 4 · clip d")
    child.expect("> ")
    child.send("s")
    child.expect("nothing left to claim")
    child.expect("session: accept 0  edit 2  reject 1  skip 1")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert marker.read_text().strip() == str(run / "sheets" / "a.png")

    store = queue(run)
    trail = audit_trail(store)
    assert [(d.clip_id, d.action, d.annotator, d.automatic) for d in trail] == [
        ("a", "edit", "alice", False), ("b", "edit", "alice", False),
        ("c", "reject", "alice", False)]
    assert trail[0].after["camera"] == "The camera tilts up slowly."
    assert trail[0].before["camera"] == rows[0].camera
    assert trail[2].reason == "too dark to describe"
    assert store.item(4).state == "pending"  # skipped: back in the queue

    # A new session: quitting gives the held item back.
    child = _spawn(run, tmp_path, edit_source, marker)
    child.expect("item 4 · clip d")
    child.expect("> ")
    child.send("q")
    child.expect("quit: item given back")
    child.expect(pexpect.EOF)
    child.close()
    outcomes = [r[0] for r in store.conn.execute(
        "SELECT outcome FROM leases WHERE item_id = 4 ORDER BY lease_id")]
    assert outcomes == ["released", "released"]
    assert store.item(4).state == "pending"


def test_remote_run_folder_needs_local_queue_and_exports_to_s3(tmp_path, capsys, s3):
    """RUN_DIR on s3:// (moto server on 127.0.0.1): captions read from and approved captions
    written to the bucket; the SQLite queue must be a local file."""
    from any2capins.io import fs

    run = f"s3://{s3.bucket('runs')}/r1"
    write_merged(run, {0: [make_caption("a"), make_caption("b", missing=["dense"])]})
    assert main(["review", "enqueue", "--run", run]) == 2
    assert "set review.queue_path" in capsys.readouterr().err
    local = ["--set", f"review.queue_path={tmp_path / 'q.sqlite'}"]
    assert main(["review", "enqueue", "--run", run, *local]) == 0
    assert main(["review", "auto-accept", "--run", run, "--annotator", "bot", *local]) == 0
    assert main(["review", "export", "--run", run, *local]) == 0
    table = fs.read_table(fs.resolve(f"{run}/review/decisions/shard-00000.parquet"))
    assert table.column("clip_id").to_pylist() == ["a"]
    assert table.column("automatic").to_pylist() == [True]


class _Keys(io.StringIO):
    """Line input for Session (not a tty); raises KeyboardInterrupt when it runs dry."""

    def readline(self, *args):
        line = super().readline(*args)
        if not line:
            raise KeyboardInterrupt
        return line


def test_session_survives_lost_lease_and_interrupt(tmp_path):
    clock = Clock()
    store = queue(tmp_path, lease_seconds=60, clock=clock)
    enqueue(store, [(0, [make_caption("a"), make_caption("b")])], "all")
    out = io.StringIO()

    class Stealing(_Keys):  # bob reclaims item 1 while alice looks at it
        def readline(self, *args):
            if not getattr(self, "stolen", False):
                self.stolen = True
                clock.advance(61)
                assert claim(store, "bob").item_id == 1
            return super().readline(*args)

    Session(store, "alice", str(tmp_path), ReviewConfig(), stdin=Stealing("a\n"),
            stdout=out).run()
    text = out.getvalue()
    assert "refused: alice does not hold item 1 (leased to bob" in text
    assert "item 2 · clip b" in text and "interrupted: item given back" in text
    assert store.item(1).lease_owner == "bob"
    assert store.item(2).state == "pending" and audit_trail(store) == []


def test_regenerated_caption_shows_its_history(tmp_path, capsys):
    run = str(tmp_path)
    old = make_caption("x")
    write_merged(tmp_path, {0: [old]})
    assert main(["review", "enqueue", "--run", run]) == 0
    assert main(["review", "auto-accept", "--run", run, "--annotator", "bot"]) == 0
    write_merged(tmp_path, {0: [make_caption("x", variant="v2")]})
    assert main(["review", "enqueue", "--run", run]) == 0
    capsys.readouterr()
    assert main(["review", "audit", "--run", run, "--clip", "x"]) == 0
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert [(d["version"], d["action"], d["annotator"]) for d in lines] == [
        (old.version, "accept", "bot")]
    assert main(["review", "audit", "--run", run, "--clip", "other"]) == 0
    assert capsys.readouterr().out == ""

    out = io.StringIO()
    store = queue(tmp_path)
    Session(store, "alice", run, ReviewConfig(), stdin=_Keys("q\n"), stdout=out).run()
    assert (f"earlier: version {old.version[:12]} was decided (accept by bot); this is a "
            "regenerated caption") in out.getvalue()
    assert main(["review", "export", "--run", run]) == 0  # the old approval is not exported
    assert "exported 0 approved" in capsys.readouterr().out
