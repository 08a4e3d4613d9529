"""The interactive review loop: one item at a time, single-key commands.

Keys: a accept · e edit a section in $EDITOR · r reject (asks a reason) · s skip (gives the
item back; not offered again this session) · o open the contact sheet · q quit (gives the held
item back) · p show the item again · ? help. Edits are validated when the editor closes and
kept until the item is accepted (recorded as an 'edit' decision) or left. Accept needs all
six sections.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import TextIO

from any2capins.config.review import ReviewConfig
from any2capins.models.captions import SECTION_TITLES, SECTIONS
from any2capins.models.review import DecisionRequest, QueueItem
from any2capins.review.decisions import decide, validate_edits
from any2capins.review.errors import InvalidEditError, ReviewError
from any2capins.review.leases import claim, held, release
from any2capins.review.store import ReviewStore, local_run_dir

KEYS = ("[a]ccept  [e]dit section  [r]eject  [s]kip  [o]pen sheet  [q]uit  [?]help")
HELP = __doc__.split("\n\n", 1)[1]


def sheet_location(run_dir: str, clip_id: str) -> tuple[str, Path | None]:
    """Where the contact sheet of a clip lives (RUN_DIR/sheets/<clip_id>.png, written by the
    sheets stage): its URI, and its local path (None when the run folder is remote)."""
    root = local_run_dir(run_dir)
    if root is None:
        return f"{run_dir.rstrip('/')}/sheets/{clip_id}.png", None
    path = root / "sheets" / f"{clip_id}.png"
    return str(path), path


class Session:
    """One annotator working through the queue on a terminal."""

    def __init__(self, store: ReviewStore, annotator: str, run_dir: str, cfg: ReviewConfig,
                 *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.store = store
        self.annotator = store.check_annotator(annotator)
        self.run_dir = run_dir
        self.cfg = cfg
        self.stdin = stdin or sys.stdin
        self.out = stdout or sys.stdout
        self.skipped: list[int] = []
        self.done: dict[str, int] = {"accept": 0, "edit": 0, "reject": 0, "skip": 0}

    # -- loop ---------------------------------------------------------------------------------
    def run(self) -> int:
        """Serve items until the queue is empty or the annotator quits. Returns 0."""
        self.say(f"review as {self.annotator} · queue {self.store.path}")
        resume = [i.item_id for i in held(self.store, self.annotator)]
        while True:
            item = self._next(resume)
            if item is None:
                self.say("nothing left to claim in the queue (enqueue more with "
                         "`any2capins review enqueue`).")
                break
            if not self._work_on(item):
                break
        self.say("session: " + "  ".join(f"{k} {v}" for k, v in self.done.items()))
        return 0

    def _next(self, resume: list[int]) -> QueueItem | None:
        if resume:
            return self.store.item(resume.pop(0))
        return claim(self.store, self.annotator, exclude=self.skipped)

    def _work_on(self, item: QueueItem) -> bool:
        """Handle one item; False when the annotator quits (q, Ctrl-C, Ctrl-D, end of input)."""
        try:
            return self._commands(item)
        except KeyboardInterrupt:
            self._give_back(item)
            self.say("\ninterrupted: item given back to the queue")
            return False

    def _give_back(self, item: QueueItem) -> None:
        try:
            release(self.store, item.item_id, self.annotator)
        except ReviewError as exc:  # the lease expired and someone else has it now
            self.say(f"note: {exc}")

    def _commands(self, item: QueueItem) -> bool:
        edits: dict[str, str] = {}
        self.show(item, edits)
        while True:
            key = self.key("> ")
            if key in ("q", "\x03", "\x04", ""):
                self._give_back(item)
                self.say("quit: item given back to the queue")
                return False
            if key == "s":
                self._give_back(item)
                self.skipped.append(item.item_id)
                self.done["skip"] += 1
                return True
            if key == "o":
                self.open_sheet(item)
            elif key == "e":
                self.edit(item, edits)
            elif key in ("a", "r") and self.finish(item, edits, key):
                return True
            elif key in ("?", "h"):
                self.say(HELP)
            elif key in {"\x0c", "p"}:
                self.show(item, edits)
            elif key not in ("a", "r"):
                self.say(f"unknown key {key!r}; {KEYS}")

    def finish(self, item: QueueItem, edits: dict[str, str], key: str) -> bool:
        """Submit accept/edit/reject; True when the item is done (decided or gone stale)."""
        if key == "r":
            reason = self.line("reason for rejecting (empty cancels): ").strip()
            if not reason:
                self.say("reject cancelled")
                return False
            request = DecisionRequest(item_id=item.item_id, version=item.version,
                                      action="reject", reason=reason)
        else:
            request = DecisionRequest(item_id=item.item_id, version=item.version,
                                      action="edit" if edits else "accept", edits=edits)
        try:
            record = decide(self.store, request, self.annotator)
        except InvalidEditError as exc:
            self.say(f"refused: {exc}")
            return False
        except ReviewError as exc:  # stale version, lost lease: the item is not ours any more
            self.say(f"refused: {exc}\nmoving on to the next item")
            return True
        self.done[record.action] += 1
        word = {"accept": "accepted", "edit": "accepted with edits", "reject": "rejected"}
        extra = f" ({', '.join(record.edited_sections)})" if record.edited_sections else ""
        self.say(f"{word[record.action]}{extra}: item {item.item_id}, decision "
                 f"{record.decision_id}")
        return True

    # -- actions ------------------------------------------------------------------------------
    def edit(self, item: QueueItem, edits: dict[str, str]) -> None:
        """Pick a section by number, edit it in the editor, validate, keep it."""
        menu = "  ".join(f"{i}:{s}" for i, s in enumerate(SECTIONS, start=1))
        choice = self.key(f"section? {menu} > ")
        if choice not in {str(i) for i in range(1, 7)}:
            self.say("edit cancelled")
            return
        name = SECTIONS[int(choice) - 1]
        current = edits.get(name, getattr(item.caption, name) or "")
        text = self.run_editor(item, name, current)
        if text is None:
            return
        try:
            edits.update(validate_edits({name: text}))
        except InvalidEditError as exc:
            self.say(f"refused: {exc} (section unchanged)")
            return
        self.show(item, edits)

    def run_editor(self, item: QueueItem, name: str, text: str) -> str | None:
        """The edited text without '#' comment lines; None when the editor failed.

        The text comes first and the help lines after it (as git's commit template): an
        editor opens on line 1, so typing at once edits the text, never the help."""
        command = shlex.split(self.editor_command())
        help_lines = (f"# {SECTION_TITLES[name]} of clip {item.clip_id} (item {item.item_id}).\n"
                      "# Lines starting with '#' are ignored; save and close the editor to "
                      "keep.\n")
        with tempfile.TemporaryDirectory(prefix="a2c-review-") as tmp:
            path = Path(tmp) / f"{name}.txt"
            path.write_text(textwrap.fill(text, 88) + "\n\n" + help_lines, encoding="utf-8")
            try:
                result = subprocess.run([*command, str(path)], check=False)  # noqa: S603
            except OSError as exc:
                self.say(f"cannot start editor {command[0]!r}: {exc}")
                return None
            if result.returncode != 0:
                self.say(f"editor exited with status {result.returncode}: edit discarded")
                return None
            lines = path.read_text(encoding="utf-8").splitlines()
        return "\n".join(ln for ln in lines if not ln.lstrip().startswith("#"))

    def editor_command(self) -> str:
        return (self.cfg.editor or os.environ.get("VISUAL") or os.environ.get("EDITOR")
                or "vi")

    def open_sheet(self, item: QueueItem) -> None:
        uri, path = sheet_location(self.run_dir, item.clip_id)
        if path is None:
            self.say(f"contact sheet is remote: {uri} (download it to view)")
            return
        if not path.is_file():
            self.say(f"no contact sheet yet at {uri}")
            return
        viewer = self.cfg.viewer or ("open" if sys.platform == "darwin" else "xdg-open")
        command = shlex.split(viewer)
        if shutil.which(command[0]) is None:
            self.say(f"viewer {command[0]!r} not found; set review.viewer. Sheet: {uri}")
            return
        subprocess.Popen([*command, str(path)], stdin=subprocess.DEVNULL,  # noqa: S603
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
        self.say(f"opened {uri}")

    # -- display and input --------------------------------------------------------------------
    def show(self, item: QueueItem, edits: dict[str, str]) -> None:
        """The item: header, flags, what is missing, the six sections, the sheet, the keys."""
        width = min(shutil.get_terminal_size((100, 24)).columns, 120)
        c = item.caption
        self.say("─" * width)
        for line in self._header(item, edits):
            self.say(line)
        for i, name in enumerate(SECTIONS, start=1):
            text = edits.get(name, getattr(c, name))
            mark = " [edited]" if name in edits else ""
            head = f"{i}. {SECTION_TITLES[name]}{mark}: "
            body = text if text is not None else "<missing>"
            self.say(textwrap.fill(body, width, initial_indent=head, subsequent_indent="   "))
        uri, path = sheet_location(self.run_dir, c.clip_id)
        found = "" if path is None or path.is_file() else "  (not written yet)"
        self.say(f"sheet:   {uri}{found}")
        self.say(KEYS)

    def _header(self, item: QueueItem, edits: dict[str, str]) -> list[str]:
        c = item.caption
        pending = self.store.conn.execute(
            "SELECT COUNT(*) FROM items WHERE state = 'pending'").fetchone()[0]
        lines = [f"item {item.item_id} · clip {c.clip_id} · version {c.version[:12]} · "
                 f"{pending} more pending" + (" · FLAGGED" if item.flagged else ""),
                 f"flags:   {', '.join(c.flags) or 'none'}"]
        earlier = self.store.conn.execute(
            "SELECT action, annotator, version FROM decisions WHERE clip_id = ? "
            "AND version != ? ORDER BY decision_id DESC LIMIT 1",
            (c.clip_id, c.version)).fetchone()
        if earlier:
            lines.append(f"earlier: version {earlier[2][:12]} was decided ({earlier[0]} by "
                         f"{earlier[1]}); this is a regenerated caption")
        if c.missing:
            left = [s for s in c.missing if s not in edits]
            lines.append(f"missing: {', '.join(c.missing)}  (accept needs all six sections; "
                         f"still to write: {', '.join(left) or 'none'})")
        return lines

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def line(self, prompt: str) -> str:
        self.out.write(prompt)
        self.out.flush()
        return self.stdin.readline().rstrip("\n")

    def key(self, prompt: str) -> str:
        """One keypress on a terminal (no Enter needed); the first character of a line else."""
        self.out.write(prompt)
        self.out.flush()
        if not self.stdin.isatty():
            return self.stdin.readline().strip()[:1]
        import select
        import termios
        import tty

        fd = self.stdin.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            ch = os.read(fd, 1).decode(errors="replace")
            # An arrow or function key sends ESC + more bytes: swallow them all, so that e.g.
            # the 'A' of "ESC [ A" (up arrow) is never taken for a command.
            while ch == "\x1b" and select.select([fd], [], [], 0.05)[0]:
                os.read(fd, 32)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        self.out.write((ch if ch.isprintable() else "") + "\n")
        return ch
