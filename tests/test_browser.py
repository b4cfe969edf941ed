"""Real-browser check of ``apps/explorer.py``: a Streamlit server driven by headless Chromium.

It trains the QTRAN game with VDN and QTRAN through the page and reads the verdicts from the
rendered text: QTRAN must recover the optimum (A, A) = 8 in every seed, VDN in none (under uniform
data VDN's greedy action is (B|C, B|C), whatever the seed). Screenshot: artifacts/explorer_browser.png.
It also opens the battle view of a real SMAX run (tests/conftest.py's ``battle_runs``), plays it and
reads the step and λ_i off the page. Screenshot: artifacts/explorer_battle.png.
Needs /usr/bin/chromium (``apt-get install -y chromium``); skipped with that reason otherwise.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "apps" / "explorer.py"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SEEDS = 2
TRAIN_TIMEOUT_MS = 400_000  # 2 methods x 2 seeds x 10k steps: under a minute here, generous for slow CI

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"streamlit not healthy after {timeout:.0f}s:\n{log.read_text()[-3000:]}")


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[str]:
    """``streamlit run apps/explorer.py`` on a free local port; always stopped on teardown."""
    port = _free_port()
    log = tmp_path / "streamlit.log"
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _verdict(text: str, method: str) -> tuple[int, int]:
    m = re.search(rf"{method}: optimum found in (\d+) of (\d+) seeds", text)
    assert m, f"no verdict line for {method} in the page text:\n{text[:3000]}"
    return int(m.group(1)), int(m.group(2))


def test_qtran_finds_optimum_vdn_does_not(server: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            page.goto(server)
            train = page.get_by_role("button", name="Train")
            train.wait_for(timeout=90_000)
            # The default game is the QTRAN game; keep VDN and QTRAN, drop QMIX.
            assert page.get_by_text("Son et al. 2019 (QTRAN)").is_visible()
            page.get_by_role("button", name=re.compile(r"^Remove qmix")).click()
            page.get_by_role("button", name=re.compile(r"^Remove qmix")).wait_for(state="detached")
            seeds = page.get_by_label("Seeds")
            seeds.fill(str(SEEDS))
            seeds.press("Enter")
            page.wait_for_timeout(1500)  # let the rerun for the new widget values settle
            assert page.get_by_label("Seeds").input_value() == str(SEEDS)
            train.click()
            page.get_by_text(re.compile(r"qtran: optimum found in")).wait_for(timeout=TRAIN_TIMEOUT_MS)
            page.get_by_text("Training loss").wait_for(timeout=60_000)
            page.wait_for_timeout(2000)  # images finish loading
            # Streamlit scrolls inside its own container, so full_page alone would stop at the viewport:
            # grow the viewport to the content height first.
            height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight ?? 1100")
            page.set_viewport_size({"width": 1600, "height": min(int(height) + 100, 8000)})
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "explorer_browser.png"), full_page=True)
            text = page.inner_text("body")
        finally:
            browser.close()
    assert _verdict(text, "qtran") == (SEEDS, SEEDS)
    assert _verdict(text, "vdn") == (0, SEEDS)
    assert "qmix: optimum found" not in text
    assert "Traceback" not in text


def _wait_idle(page, timeout_s: float = 120.0) -> None:  # noqa: ANN001 (playwright's Page)
    """Until Streamlit's running indicator has been gone for two checks in a row (a pause queues a rerun)."""
    deadline, idle = time.monotonic() + timeout_s, 0
    while idle < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(1500)
        idle = idle + 1 if page.locator('[data-testid="stStatusWidget"]').count() == 0 else 0


def test_battle_view_opens_and_plays(server: str, battle_runs: dict[str, Path]) -> None:
    """The run viewer on a real SMAX QMIX run: the battle view renders, Play advances the step by itself."""
    from playwright.sync_api import sync_playwright

    run = battle_runs["qmix"]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1400})
            page.goto(server)
            page.get_by_role("tab", name="Run viewer").click()
            folder = page.get_by_role("textbox", name="Run folder or runs directory")
            folder.wait_for(timeout=90_000)
            folder.fill(str(run))
            folder.press("Enter")
            page.get_by_text(re.compile(r"^Step 0 of \d+$")).first.wait_for(timeout=120_000)
            page.get_by_role("button", name="Make an animated GIF of this battle").first.wait_for(timeout=30_000)
            page.get_by_text("▶ Play").first.click()
            page.get_by_text(re.compile(r"^Step [1-9]\d* of \d+")).first.wait_for(timeout=60_000)  # it plays
            page.get_by_text("▶ Play").first.click()  # pause
            _wait_idle(page)
            page.screenshot(path=str(ARTIFACTS / "explorer_battle.png"), full_page=True)
            text = page.inner_text("body")
        finally:
            browser.close()
    assert "Episode replay (greedy policy)" in text and "λ_i(s) = ∂Q_tot/∂Q^i" in text
    assert "Traceback" not in text and "Error" not in text.split("Episode replay")[-1]
