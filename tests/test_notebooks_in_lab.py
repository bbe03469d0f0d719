"""JupyterLab in a real headless Chromium: 00 runs top to bottom and shows its figure; a
control of 05's explorer reruns and redraws. Notebooks run on the smoke profile's values
(written into their parameters cells, as a reader would), figures go to a temporary
folder. This file sorts after test_notebooks.py, whose smoke runs warm the cache."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import papermill
import pytest

from w2s_utils.config import load_profile

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not on PATH (Debian: apt-get install -y chromium)")]
TOKEN = "w2s-browser-test"
RUN_S = 900  # a notebook in Lab; the smoke runs before this file have warmed the cache


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    for name in ("00_quickstart", "05_analysis"):
        book = papermill.parameterize.parameterize_notebook(
            papermill.iorw.load_notebook_node(str(ROOT / "notebooks" / f"{name}.ipynb")),
            load_profile("smoke", name, ROOT))
        (folder / f"{name}.ipynb").write_text(json.dumps(book))
    settings = folder / "settings"  # every cell in the page (no windowing), no news toast
    for plugin, values in (("notebook-extension/tracker", {"windowingMode": "none"}),
                           ("apputils-extension/notification", {"fetchNews": "false"})):
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = _free_port()
    env = {**os.environ, "W2S_HOME": str(ROOT), "W2S_FIGURES_DIR": str(folder / "figures"),
           "W2S_RUNS_DIR": str(folder / "runs"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "JUPYTER_CONFIG_DIR": str(folder / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    env.pop("W2S_BATCH", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={TOKEN}",
         f"--ServerApp.root_dir={folder}", "--LabApp.news_url=None", "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{url}/api/status?token={TOKEN}").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start in 60 s")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--no-sandbox", "--disable-gpu"])
            yield url, browser
            browser.close()
    finally:
        server.terminate()
        server.wait(30)


def _run_all(page, url: str, name: str):
    # A workspace of its own, reset: Lab would otherwise reopen the other test's notebook.
    page.goto(f"{url}/lab/workspaces/{name}/tree/{name}.ipynb?reset&token={TOKEN}")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    status = panel.locator(".jp-Notebook-ExecutionIndicator").first
    panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
        timeout=60_000)
    prompts = panel.locator(".jp-CodeCell .jp-InputPrompt")
    for _ in range(5):  # a loaded machine may take the click before the notebook is ready
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        try:
            page.wait_for_function(
                "() => [...document.querySelectorAll("
                "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]"
                ".some(p => p.innerText.trim() !== '[ ]:')", timeout=20_000)
            break
        except sync_api.TimeoutError:
            page.keyboard.press("Escape")
    deadline = time.time() + RUN_S
    while time.time() < deadline:  # done: every prompt numbered and the kernel idle
        texts = prompts.all_inner_texts()
        if texts and all(t.strip("[]: ").isdigit() for t in texts) and \
                status.get_attribute("data-status") == "idle":
            break
        time.sleep(2)
    errors = panel.locator(".jp-OutputArea-output").filter(has_text="Traceback")
    assert errors.count() == 0, errors.first.inner_text()[-2000:]
    assert all(t.strip("[]: ").isdigit() for t in prompts.all_inner_texts()), (
        f"{name}: cells still pending after {RUN_S} s: {prompts.all_inner_texts()}")


def test_quickstart_runs_in_lab_and_shows_its_figure(lab):
    url, browser = lab
    page = browser.new_page()
    _run_all(page, url, "00_quickstart")
    assert page.locator(".jp-OutputArea-output img").count() >= 1


def test_moving_an_explorer_control_redraws(lab):
    url, browser = lab
    page = browser.new_page()
    _run_all(page, url, "05_analysis")
    panel = page.locator(".widget-vbox").last
    panel.wait_for(timeout=60_000)
    figure = panel.locator("img").first
    figure.wait_for(timeout=120_000)
    before = figure.get_attribute("src")
    seed = panel.locator(".widget-dropdown", has_text="seed").locator("select")
    options = seed.locator("option").all_inner_texts()
    seed.select_option(label=options[1])
    panel.get_by_role("button", name="run").click()
    page.wait_for_function(  # the figure of the new seed replaces the old one
        "([el, old]) => el.querySelector('img') && el.querySelector('img').src !== old",
        arg=[panel.element_handle(), before], timeout=120_000)
