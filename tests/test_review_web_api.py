"""The review server's JSON API and its security, over real HTTP: uvicorn on 127.0.0.1 serving
the real app on a run folder with a real clip and hand-made condition rows; the queue is the
same SQLite file the CLI uses (and the CLI runs against it in the same test)."""

from __future__ import annotations

import json
import logging
import re
import threading

import pyarrow.parquet as pq
import pytest
from review_helpers import Clock
from review_web_helpers import (
    SELFIE,
    Client,
    ServerThread,
    build_web_run,
    make_context,
    probe_record,
)

from any2capins.cli import main
from any2capins.config.review import ReviewConfig
from any2capins.models.captions import SECTIONS
from any2capins.review.decisions import audit_trail
from any2capins.review.leases import claim
from any2capins.review.quality import word_distance
from any2capins.review.web import accounts
from any2capins.review.web.app import create_app

XSS = '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> A face.'


@pytest.fixture
def web(tmp_path):
    clip = probe_record(SELFIE, "selfie0000000001")
    return build_web_run(tmp_path / "run", [clip], captions={clip.clip_id: {"dense": XSS}},
                         extra_items=2)


def _user(web, name: str, role: str = "annotator", **kw) -> str:
    with web.store() as store:
        accounts.ensure_schema(store)
        return accounts.add_user(store, name, role, **kw)


@pytest.fixture
def server(web):
    ctx = make_context(web)
    with ServerThread(create_app(ctx)) as srv:
        yield srv


def _client(server, token: str) -> Client:
    c = Client(server.port)
    assert c.login(token).status == 200
    return c


def test_login_next_decide_release_and_the_cli_on_the_same_queue(web, server):
    alice = _client(server, _user(web, "alice"))
    got = alice.request("GET", "/api/next")
    assert got.status == 200
    item = got.json()
    assert item["clip_id"] == "selfie0000000001"  # queue order: oldest first
    assert item["sections"]["dense"] == XSS  # data, not markup: the page sets it as text
    assert item["media"] == f"/media/items/{item['item_id']}/preview.mp4"
    assert item["progress"] == {"you": 0, "team": 0, "left": 3, "total": 3}
    # a reload resumes the held item instead of claiming another
    assert alice.request("GET", "/api/next").json()["item_id"] == item["item_id"]

    # the CLI, at the same time, on the same queue: it gets another item, never alice's
    with web.store() as store:
        other = claim(store, "carol")
    assert other.item_id != item["item_id"]

    edit = {"version": item["version"], "action": "edit",
            "edits": {"camera": "The camera holds still on a man's face."}}
    done = alice.request("POST", f"/api/items/{item['item_id']}/decision", edit)
    assert done.status == 200, done.text
    assert done.json()["decision"]["edited_sections"] == ["camera"]
    assert done.json()["progress"]["you"] == 1

    nxt = alice.request("GET", "/api/next").json()
    assert nxt["item_id"] not in (item["item_id"], other.item_id)
    assert alice.request("POST", f"/api/items/{nxt['item_id']}/release", {}).status == 200
    skipped = alice.request("GET", f"/api/next?skip={nxt['item_id']}")
    assert skipped.status == 204  # carol holds the last one

    # the decision is in the audit trail under alice's name, as for the CLI
    assert main(["review", "audit", "--run", str(web.run)]) == 0
    with web.store() as store:
        (record,) = audit_trail(store)
    assert (record.annotator, record.action) == ("alice", "edit")


def test_refusals_have_their_status_and_a_clear_message(web, server):
    alice = _client(server, _user(web, "alice"))
    bob = _client(server, _user(web, "bob"))
    item = alice.request("GET", "/api/next").json()
    url = f"/api/items/{item['item_id']}/decision"
    accept = {"version": item["version"], "action": "accept"}

    no_csrf = alice.request("POST", url, accept, csrf=False)
    assert no_csrf.status == 403 and no_csrf.json()["error"] == "csrf"
    wrong = alice.request("POST", url, accept, headers={"X-CSRF-Token": bob.csrf})
    assert wrong.status == 403  # another session's token is no token
    foreign = alice.request("POST", url, accept, headers={"Origin": "http://evil.example"})
    assert foreign.status == 403 and foreign.json()["error"] == "cross_origin"

    stale = alice.request("POST", url, {**accept, "version": "0123456789abcdef"})
    assert stale.status == 409 and "refused, nothing was changed" in stale.json()["message"]
    not_yours = bob.request("POST", url, accept)
    assert not_yours.status == 409 and "bob does not hold item" in not_yours.json()["message"]

    bad = {"version": item["version"], "action": "edit",
           "edits": {"style": "   ", "action": " ".join(["word"] * 401)}}
    refused = alice.request("POST", url, bad)
    assert refused.status == 422
    assert set(refused.json()["sections"]) == {"style", "action"}
    assert "empty" in refused.json()["sections"]["style"]
    malformed = alice.request("POST", url, {"version": item["version"], "action": "reject"})
    assert malformed.status == 422 and "needs a reason" in malformed.json()["message"]
    assert alice.request("POST", url, raw=b"{not json",
                         headers={"Content-Type": "application/json"}).status == 422
    huge = alice.request("POST", url, raw=b"x" * (2 << 20))
    assert huge.status == 413
    assert alice.request("GET", "/api/items/999/overlays").status == 404

    ok = alice.request("POST", url, accept)
    assert ok.status == 200
    again = alice.request("POST", url, accept)  # a second tab, or a double click
    assert again.status == 409 and "already decided" in again.json()["message"]
    with web.store() as store:
        assert len(audit_trail(store)) == 1  # nothing overwritten


def test_bad_token_expired_session_and_revoked_account(web):
    clock = Clock(start=1_900_000_000.0)
    cfg = ReviewConfig.model_validate({"web": {"session_hours": 1}})
    token = _user(web, "alice")
    with ServerThread(create_app(make_context(web, cfg, clock=clock))) as srv:
        c = Client(srv.port)
        bad = c.login("a2c-not-a-token")
        assert bad.status == 401 and "ask your lead for a new one" in bad.json()["message"]
        page = c.request("POST", "/login", raw=b"token=nope",
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  "Accept": "text/html"})
        assert page.status == 401 and "this token is not valid" in page.text
        assert "Traceback" not in page.text

        anonymous = c.request("GET", "/api/next")
        assert anonymous.status == 401 and anonymous.json()["error"] == "no_session"
        assert c.request("GET", "/").status == 303  # pages send you to /login

        assert c.login(token).status == 200
        assert c.request("GET", "/api/next").status == 200
        clock.advance(3601)
        expired = c.request("GET", "/api/next")
        assert expired.status == 401 and expired.json()["message"].startswith(
            "your session expired")
        redirect = c.request("GET", "/")
        assert redirect.status == 303 and redirect.headers["location"] == "/login?why=expired"
        login_page = c.request("GET", "/login?why=expired")
        assert "Your session expired" in login_page.text

        assert c.login(token).status == 200
        with web.store() as store:
            assert accounts.revoke_user(store, "alice")
        revoked = c.request("GET", "/api/next")
        assert revoked.status == 401 and "revoked" in revoked.json()["message"]
        assert c.login(token).status == 401


def test_leads_reopen_and_see_the_dashboard_annotators_do_not(web, server):
    lead = _client(server, _user(web, "lena", "lead"))
    ann = _client(server, _user(web, "<b>bob</b>"))
    item = ann.request("GET", "/api/next").json()
    reject = {"version": item["version"], "action": "reject",
              "reason": "<script>alert('reason')</script>"}
    assert ann.request("POST", f"/api/items/{item['item_id']}/decision", reject).status == 200

    assert ann.request("GET", "/dashboard", headers={"Accept": "text/html"}).status == 403
    forbidden = ann.request("POST", f"/api/items/{item['item_id']}/reopen", {"reason": "x"})
    assert forbidden.status == 403 and forbidden.json()["error"] == "forbidden"
    assert "queue" not in ann.request("GET", "/api/stats").json()

    page = lead.request("GET", "/dashboard", headers={"Accept": "text/html"})
    assert page.status == 200
    assert "&lt;b&gt;bob&lt;/b&gt;" in page.text and "<b>bob</b>" not in page.text
    assert "&lt;script&gt;alert(" in page.text and "<script>alert" not in page.text
    assert lead.request("POST", f"/api/items/{item['item_id']}/reopen", {}).status == 422
    reopened = lead.request("POST", f"/api/items/{item['item_id']}/reopen",
                            {"reason": "the reason is not a reason"})
    assert reopened.status == 200 and reopened.json()["state"] == "pending"

    again = lead.request("GET", "/api/next").json()
    assert again["item_id"] == item["item_id"]
    assert again["reopened"] == {"by": "lena", "reason": "the reason is not a reason",
                                 "action": "reject", "annotator": "<b>bob</b>"}
    stats = lead.request("GET", "/api/stats").json()
    assert stats["queue"]["annotators"]["<b>bob</b>"]["reject"] == 1
    assert stats["queue"]["items_by_state"]["leased"] == 1


def test_media_route_serves_only_previews_of_this_runs_clips(web, server, caplog):
    caplog.set_level(logging.INFO)
    alice = _client(server, _user(web, "alice"))
    with web.store() as store:
        items = {i.clip_id: i.item_id for i in store.items()}
    selfie = items["selfie0000000001"]

    results: list[int] = []

    def fetch() -> None:
        c = Client(server.port)
        c.cookie = alice.cookie
        results.append(c.request("GET", f"/media/items/{selfie}/preview.mp4").status)
        c.close()

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == [200] * 4
    made = [r for r in caplog.records if r.getMessage().startswith("preview of clip")]
    assert len(made) == 1  # one encode however many requests raced for it
    assert (web.run / "review" / "previews" / "selfie0000000001.mp4").is_file()

    part = alice.request("GET", f"/media/items/{selfie}/preview.mp4",
                         headers={"Range": "bytes=0-63"})
    assert part.status == 206 and part.headers["content-type"] == "video/mp4"
    assert part.body[4:8] == b"ftyp" and len(part.body) == 64

    no_clip = alice.request("GET", f"/media/items/{items['noclip00000']}/preview.mp4")
    assert no_clip.status == 404 and "not in this run's clips/" in no_clip.json()["message"]
    for path in ("/media/items/999/preview.mp4", "/media/items/..%2F..%2Fetc%2Fpasswd/preview.mp4",
                 "/media/items/1/../../run.json", "/media/selfie0000000001.mp4",
                 "/media/items/1/preview.mp4?path=/etc/passwd&clip=../x"):
        reply = alice.request("GET", path)
        assert reply.status in (404, 200), path
        if reply.status == 200:  # the query string is ignored: still item 1's preview
            assert reply.headers["content-type"] == "video/mp4" and path.startswith(
                f"/media/items/{selfie}/")
    anonymous = Client(server.port).request("GET", f"/media/items/{selfie}/preview.mp4")
    assert anonymous.status == 401

    depth = alice.request("GET", f"/media/items/{selfie}/depth.png")
    assert depth.status == 200 and depth.body[:8] == b"\x89PNG\r\n\x1a\n"


def test_overlays_carry_the_conditions_and_the_preview_time_offset(web, server):
    alice = _client(server, _user(web, "alice"))
    item = alice.request("GET", "/api/next").json()
    ov = alice.request("GET", item["overlays"]).json()
    assert ov["preview_error"] is None
    assert ov["time_offset"] == pytest.approx(0.0, abs=1e-6)  # whole file: first frame at 0
    pose = ov["pose"]
    assert len(pose["tracks"]) == 1 and len(pose["tracks"][0]["keypoints"][0]) == 17
    sk = pose["skeleton"]  # the project's one skeleton definition (models/skeleton.py)
    assert sk["layout"] == "coco17" and sk["body"] == list(range(17))
    assert len(sk["body_limbs"]) == 17 and sk["parts"] == [] and sk["face"] == []
    assert ov["refs"]["crops"][0]["label"] == "person"
    assert ov["camera"]["description"] == "The camera trucks slowly right."
    # centres C = -R^T t of the hand-made extrinsics: x grows 0.1 per frame
    assert [round(c[0], 3) for c in ov["camera"]["centres"]] == [0.0, 0.1, 0.2, 0.3]
    assert ov["depth"]["count"] == 4 and ov["depth"]["sprite"].endswith("/depth.png")


def test_no_token_or_session_id_in_pages_urls_or_logs(web, server, caplog):
    caplog.set_level(logging.DEBUG)
    lead_token = _user(web, "lena", "lead")
    lead = Client(server.port)
    form = lead.request("POST", "/login", raw=f"token={lead_token}".encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded",
                                 "Accept": "text/html"})
    assert form.status == 303 and form.headers["location"] == "/"
    cookie = form.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    sid = lead.cookie
    seen = [lead.request("GET", p, headers={"Accept": "text/html"}).text
            for p in ("/", "/dashboard", "/login")]
    item = lead.request("GET", "/api/next")
    seen += [item.text, lead.request("GET", item.json()["overlays"]).text,
             lead.request("GET", "/api/stats").text]
    lead.request("POST", "/api/logout", {}, headers={"X-CSRF-Token": "x"})  # refused: 403
    logs = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "GET /api/next" in logs  # the access log is on, and clean:
    for secret in (lead_token, sid, lead_token.removeprefix("a2c-")):
        assert secret not in logs
        for text in seen:
            assert secret not in text
    with web.store() as store:
        dump = "\n".join(store.conn.iterdump())
    assert lead_token not in dump and sid not in dump  # stored hashed only
    assert re.search(r"login: lena \(lead\)", logs)


def test_an_internal_error_is_one_line_for_the_browser_and_a_traceback_in_the_log(
        web, server, caplog):
    alice = _client(server, _user(web, "alice"))
    item = alice.request("GET", "/api/next").json()
    (web.run / "conditions" / "pose" / "shard-00000.parquet").write_bytes(b"not parquet")
    with pytest.raises(Exception, match=r"Parquet|parquet|magic"):
        pq.read_table(web.run / "conditions" / "pose" / "shard-00000.parquet")
    reply = alice.request("GET", item["overlays"])
    assert reply.status == 500
    assert reply.json() == {"ok": False, "error": "internal",
                            "message": "internal error: the server log has the details"}
    assert any(r.exc_info for r in caplog.records if r.name == "any2capins.review.web")


def test_users_cli_prints_a_token_once_and_stores_it_hashed(web, capsys):
    run = str(web.run)
    assert main(["review", "users", "add", "alice", "--run", run, "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added["name"] == "alice" and added["role"] == "annotator"
    assert added["token"].startswith("a2c-") and len(added["token"]) > 40
    assert main(["review", "users", "add", "alice", "--run", run]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["review", "users", "add", "lena", "--run", run, "--role", "lead"]) == 0
    assert "shown only now" in capsys.readouterr().out
    assert main(["review", "users", "list", "--run", run, "--json"]) == 0
    listed = capsys.readouterr().out
    assert added["token"] not in listed
    assert {u["name"]: u["role"] for u in json.loads(listed)} == {"alice": "annotator",
                                                                 "lena": "lead"}
    assert main(["review", "users", "add", "alice", "--run", run, "--new-token",
                 "--json"]) == 0
    replaced = json.loads(capsys.readouterr().out)["token"]
    with web.store() as store:
        with pytest.raises(accounts.AuthError, match="not valid"):
            accounts.login(store, added["token"], 60)
        assert accounts.login(store, replaced, 60)[1].name == "alice"
    assert main(["review", "users", "revoke", "alice", "--run", run]) == 0
    assert main(["review", "users", "revoke", "alice", "--run", run]) == 1
    with web.store() as store, pytest.raises(accounts.AuthError, match="not valid"):
        accounts.login(store, replaced, 60)
    assert main(["review", "users", "add", "x", "--run", str(web.run / "nope")]) == 2


def test_caption_quality_in_stats_json_and_the_export(web, capsys):
    """Per section: share accepted unedited, word edit rate, and sacrebleu / rouge-score
    figures of the model's text against the accepted text (people's decisions only)."""
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU, CHRF

    from any2capins.models.review import DecisionRequest
    from any2capins.review.decisions import decide

    new_camera = "The camera holds still."
    with web.store() as store:
        items = [claim(store, "alice") for _ in range(2)]
        complete = [i for i in items if not i.caption.missing]
        before = complete[0].caption.camera
        decide(store, DecisionRequest(item_id=complete[0].item_id, version=complete[0].version,
                                      action="edit", edits={"camera": new_camera}), "alice")
        decide(store, DecisionRequest(item_id=complete[1].item_id, version=complete[1].version,
                                      action="accept"), "alice")
    assert main(["review", "stats", "--run", str(web.run), "--json"]) == 0
    quality = json.loads(capsys.readouterr().out)["caption_quality"]
    assert quality["items"] == 2
    camera = quality["sections"]["camera"]
    other = complete[1].caption.camera
    assert camera["approved"] == 2 and camera["unedited_share"] == 0.5
    n_before = len(before.split()) + len(other.split())
    assert camera["word_edit_rate"] == round(word_distance(before, new_camera) / n_before, 4)
    hyps, refs = [before, other], [new_camera, other]
    assert camera["bleu2"] == round(BLEU(max_ngram_order=2).corpus_score(hyps, [refs]).score, 2)
    assert camera["chrf"] == round(CHRF().corpus_score(hyps, [refs]).score, 2)
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rouge = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs, strict=True)]
    assert camera["rouge_l"] == round(100 * sum(rouge) / 2, 2)
    assert camera["bleu2"] < 100 and camera["chrf"] < 100
    for name in SECTIONS:
        if name != "camera":
            row = quality["sections"][name]
            assert (row["unedited_share"], row["bleu2"], row["chrf"], row["rouge_l"]) == (
                1.0, 100.0, 100.0, 100.0)
    assert main(["review", "stats", "--run", str(web.run)]) == 0
    assert "caption quality (2 human approvals" in capsys.readouterr().out
    assert main(["review", "export", "--run", str(web.run)]) == 0
    written = json.loads((web.run / "review" / "stats.json").read_text())
    assert written["caption_quality"] == quality


def test_reopen_command_sends_automatic_decisions_back_to_people(web, capsys):
    run = str(web.run)
    assert main(["review", "auto-accept", "--run", run, "--annotator", "demo-bot"]) == 0
    capsys.readouterr()
    assert main(["review", "reopen", "--run", run, "--annotator", "lena",
                 "--reason", "x"]) == 2  # neither --item nor --automatic
    assert main(["review", "reopen", "--run", run, "--annotator", "lena", "--automatic",
                 "--reason", "people review the demo"]) == 0
    assert "reopened 3 item(s)" in capsys.readouterr().out
    with web.store() as store:
        assert store.counts_by_state() == {"pending": 3}
        rows = store.conn.execute("SELECT lead, reason FROM reopens").fetchall()
        assert [tuple(r) for r in rows] == [("lena", "people review the demo")] * 3
        with pytest.raises(Exception, match="append-only"):
            store.conn.execute("DELETE FROM reopens")
        assert len(audit_trail(store)) == 3  # the automatic decisions stay in the trail
    assert main(["review", "reopen", "--run", run, "--annotator", "lena", "--item", "1",
                 "--reason", "again"]) == 1  # pending: nothing to reopen
    assert "is not decided" in capsys.readouterr().err
    assert main(["review", "export", "--run", run]) == 0
    assert "exported 0 approved" in capsys.readouterr().out  # reopened: not approved any more


def test_templates_and_static_files_are_package_data():
    """The page's templates, script and style ship in the wheel (annotation hosts install
    the package, not a checkout): pyproject.toml's package-data covers every one of them."""
    import fnmatch
    import tomllib
    from pathlib import Path

    import any2capins.review.web as web_pkg

    root = Path(web_pkg.__file__).parent
    pyproject = tomllib.loads((root.parents[2] / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"].get("package-data", {}).get(
        "any2capins.review.web", [])
    files = [p.relative_to(root).as_posix() for d in ("templates", "static")
             for p in (root / d).iterdir()]
    assert files and all(any(fnmatch.fnmatch(f, g) for g in globs) for f in files), (
        f"add to pyproject.toml: [tool.setuptools.package-data] \"any2capins.review.web\" = "
        f"[\"templates/*.html\", \"static/*.js\", \"static/*.css\"] (files: {files})")


def test_docs_list_every_shortcut_of_the_page():
    from pathlib import Path

    from any2capins.review.web.pages import SHORTCUTS

    docs = (Path(__file__).resolve().parents[1] / "docs" / "review.md").read_text()
    browser = docs[docs.index("## In the browser"):]
    missing = [key for keys, _ in SHORTCUTS for key in keys.split() if f"`{key}`" not in browser]
    assert not missing, f"docs/review.md lacks shortcuts {missing}"


def test_whole_body_rows_draw_feet_hands_and_face_old_rows_resolve_by_name():
    from any2capins.models import skeleton
    from any2capins.review.web.media import skeleton_payload

    whole = skeleton_payload(list(skeleton.WHOLEBODY133_NAMES), "coco_wholebody133")
    assert whole["layout"] == "coco_wholebody133" and len(whole["face"]) == 68
    assert [len(p["idx"]) for p in whole["parts"]] == [6, 21, 21]  # feet, left, right hand
    assert whole["parts"][1]["idx"][0] == skeleton.WHOLEBODY133_NAMES.index("left_hand_root")
    # a row written before keypoint_layout existed: found by its names
    assert skeleton_payload(list(skeleton.COCO17_NAMES), None)["layout"] == "coco17"
    custom = skeleton_payload(["nose", "tail"], None)
    assert custom["layout"] == "custom" and custom["body"][:2] == [0, -1]
