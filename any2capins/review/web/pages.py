"""Server-rendered pages: login, the item page (its item is filled in by static/review.js
through the JSON API), the lead's dashboard. Jinja2 with autoescaping on: every value from the
queue (captions are LLM text, names are typed by people) is escaped; the templates hold no
inline script (the Content-Security-Policy forbids it), and the CSRF token reaches the script
through a meta tag."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from any2capins.models.captions import SECTION_TITLES, SECTIONS

TEMPLATES = Path(__file__).parent / "templates"

LOGIN_REASONS = {
    "expired": "Your session expired: log in again with your token.",
    "revoked": "Your account was revoked: ask your lead.",
    "no_session": "Log in with the token your lead gave you.",
    "logged_out": "You are logged out.",
}

# every shortcut of the item page: shown in its help panel and in docs/review.md
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("a", "accept (with your edits, if any); the next item loads by itself"),
    ("e", "edit the first section (1-6: edit that section)"),
    ("Esc", "leave the text box (the edit is kept until you accept or skip)"),
    ("Ctrl+Enter", "leave the text box and accept"),
    ("r", "reject: type a reason, Enter sends it, Esc cancels"),
    ("s", "skip: give the item back (not offered again in this browser session)"),
    ("space", "play / pause"),
    (", .", "one frame back / forward (pauses)"),
    ("p", "pose skeletons with track ids on / off"),
    ("b", "reference boxes on / off"),
    ("d", "depth picture-in-picture on / off"),
    ("c", "camera path and words on / off"),
    ("?", "show / hide every shortcut"),
)


@cache
def environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def render(name: str, **values: Any) -> str:
    return environment().get_template(name).render(**values)


def login_page(message: str | None = None, error: str | None = None) -> str:
    return render("login.html", title="Log in", message=message, error=error, user=None)


def item_page(name: str, role: str, csrf: str) -> str:
    sections = [(i, s, SECTION_TITLES[s]) for i, s in enumerate(SECTIONS, start=1)]
    return render("item.html", title="Review", user={"name": name, "role": role}, csrf=csrf,
                  sections=sections, shortcuts=SHORTCUTS)


def dashboard_page(name: str, csrf: str, stats: dict[str, Any], recent: list[dict[str, Any]],
                   previews: dict[str, int]) -> str:
    return render("dashboard.html", title="Dashboard", user={"name": name, "role": "lead"},
                  csrf=csrf, stats=stats, recent=recent, previews=previews,
                  sections=list(SECTIONS))


def message_page(title: str, message: str, user: dict[str, str] | None = None) -> str:
    return render("message.html", title=title, message=message, user=user)
