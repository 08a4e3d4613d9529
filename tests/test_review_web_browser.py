"""The review page in a real browser: Debian's headless Chromium driven by Selenium (through
the system chromedriver: no browser or driver download). Logs in through the page, watches the
clip play, sees the pose overlay drawn on a clip with people, checks that an LLM caption
holding markup stays text, edits a section and accepts with the keyboard, and finds the
decision in `review audit` under the annotator's name.

The screenshot goes to the test's tmp folder, and to docs/img/review-page.png when
A2C_SAVE_SCREENSHOT=1 (how the picture in docs/review.md is made)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from review_web_helpers import (
    SELFIE,
    ServerThread,
    build_web_run,
    make_context,
    probe_record,
)

from any2capins.cli import main
from any2capins.review.web.app import create_app

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
DOCS_SHOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "review-page.png"
XSS = '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> A man looks ' \
      'into the camera in an office.'
NEW_CAMERA = "The camera holds still on the man's face, at eye level."
SELFIE_TEXT = {
    "dense": XSS,
    "main_object": "A man in his thirties with short dark hair, glasses and a striped shirt.",
    "background": "An office ceiling with strip lights and a window with blinds behind him.",
    "camera": "The camera pans slowly left across the room.",
    "style": "Handheld phone footage, cool indoor light, slightly soft focus.",
    "action": "The man looks into the lens and tilts his head a little while speaking.",
}

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and DRIVER.exists()),
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them: "
    "apt-get install chromium chromium-driver)")


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--mute-audio",
                f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1400,820",
                "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, script: str, timeout: float = 60.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(script), message=f"never true: {script}")


INK = """const c = document.getElementById('overlay');
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;"""


def test_annotator_reviews_in_the_browser(tmp_path, browser, capsys):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    selfie = probe_record(SELFIE, "selfie0000000001")
    bear = probe_record(SELFIE.parent / "vp9_bear.webm", "bear000000000001")
    web = build_web_run(tmp_path / "run", [selfie, bear],
                        captions={selfie.clip_id: SELFIE_TEXT})
    assert main(["review", "users", "add", "alice", "--run", str(web.run), "--json"]) == 0
    token = json.loads(capsys.readouterr().out)["token"]

    with ServerThread(create_app(make_context(web))) as server:
        browser.get(f"{server.url}/")
        assert "/login" in browser.current_url  # no session yet
        browser.find_element(By.NAME, "token").send_keys(token)
        browser.find_element(By.CSS_SELECTOR, "form.login button").click()
        _wait(browser, "return window.a2cReview && window.a2cReview.item !== null")
        assert token not in browser.page_source and token not in browser.current_url
        assert browser.execute_script("return window.a2cReview.item.clip_id") == selfie.clip_id

        # the clip plays: currentTime advances (from the start: the 1-s clip loops)
        _wait(browser, "return document.getElementById('player').readyState >= 2")
        browser.execute_script("document.getElementById('player').currentTime = 0")
        _wait(browser, "const v = document.getElementById('player'); "
                       "return !v.paused && v.currentTime > 0.2")

        # the pose overlay is drawn on the canvas over the clip with a person, synced to time
        _wait(browser, "const d = window.a2cReview.drawn; return d && d.pose_tracks >= 1")
        with_pose = browser.execute_script(INK)
        assert with_pose > 500
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys("p")  # pose off: less ink, nothing drawn for pose
        _wait(browser, "return window.a2cReview.drawn.pose_tracks === 0")
        assert browser.execute_script(INK) < with_pose
        body.send_keys("p")
        _wait(browser, "return window.a2cReview.drawn.pose_tracks >= 1")

        # the caption's markup is text: nothing ran, no element was made from it
        assert browser.execute_script("return window.__xss === undefined")
        assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"], "
                                      "#sections script').length") == 0
        dense = browser.find_element(By.CSS_SELECTOR, "#sec-dense textarea")
        assert dense.get_attribute("value") == XSS

        # space pauses, '.' steps one frame, '?' shows every shortcut
        body.send_keys(" ")
        _wait(browser, "return document.getElementById('player').paused")
        before = browser.execute_script("return document.getElementById('player').currentTime")
        body.send_keys(".")
        _wait(browser, f"return document.getElementById('player').currentTime > {before}")
        body.send_keys("?")
        assert browser.find_element(By.ID, "help").is_displayed()
        body.send_keys("?")
        body.send_keys(" ")  # play again for the picture

        # edit section 4 (camera) from the keyboard, leave the box with Esc
        body.send_keys("4")
        camera = browser.find_element(By.CSS_SELECTOR, "#sec-camera textarea")
        assert browser.switch_to.active_element == camera
        ActionChains(browser).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL) \
            .send_keys(NEW_CAMERA).send_keys(Keys.ESCAPE).perform()
        assert browser.find_element(By.CSS_SELECTOR, "#sec-camera .edited-mark").is_displayed()
        assert browser.find_elements(By.CSS_SELECTOR, "#sec-camera .diff ins")
        browser.execute_script("document.querySelector('#sec-camera details').open = true")
        _wait(browser, "const d = window.a2cReview.drawn; return d && d.pose_tracks >= 1 && "
                       "d.depth && d.camera")
        shot = tmp_path / "review-page.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        if os.environ.get("A2C_SAVE_SCREENSHOT") == "1":
            DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, DOCS_SHOT)

        # accept with the keyboard: the next item loads by itself
        body.send_keys("a")
        _wait(browser, f"const i = window.a2cReview.item; return i && i.clip_id === "
                       f"'{bear.clip_id}'")
        status = browser.find_element(By.ID, "status").text
        assert "accepted with edits" in status
        assert "you 1" in browser.find_element(By.ID, "progress-text").text

    assert main(["review", "audit", "--run", str(web.run)]) == 0
    trail = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (decision,) = [d for d in trail if d["clip_id"] == selfie.clip_id]
    assert decision["annotator"] == "alice" and decision["action"] == "edit"
    assert decision["edited_sections"] == ["camera"]
    assert decision["after"]["camera"] == NEW_CAMERA
    assert decision["after"]["dense"] == XSS  # untouched text stays as the model wrote it
