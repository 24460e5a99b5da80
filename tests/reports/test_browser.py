"""The dashboard in a real headless browser (Debian's chromium + chromium-driver, via Selenium).

Skipped when the browser is not installed -- except under CI (CI=true), where
`.ci/run` installs it and a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import optuna
import pytest

from reports.dashboard import write_dashboard
from search.run import main
from studies import write_trial

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("pareto-front", "hypervolume", "stages", "importance", "costs", "timeline")


def _driver(profile: Path):
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chrome and driver):
        message = "needs Debian's chromium and chromium-driver (scripts/get-browser.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,4000", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=opts)


def _assert_renders(driver, page: Path, figures: tuple[str, ...]) -> None:
    """Open ``page``; each of ``figures`` draws data, and the console has no error."""
    driver.get(page.as_uri())
    deadline = time.time() + 30
    while time.time() < deadline and driver.execute_script(
            "return document.querySelectorAll('.js-plotly-plot .main-svg').length") < len(figures):
        time.sleep(0.2)
    for fig in figures:
        marks = driver.execute_script(
            "return document.querySelectorAll(arguments[0]).length",
            f"#{fig} .point, #{fig} .boxlayer path, #{fig} .scatterlayer .lines path, #{fig} .barlayer path")
        assert marks > 0, f"figure {fig} drew no data"
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_dashboard_renders_every_figure_without_console_errors(tiny_space, fashion_dir, tmp_path,
                                                               monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    # confirmed: the error bars and the reference's band are drawn too
    space = tiny_space("browser", n_trials=9, extra="constraints: {params: {max: 19950}}\n",
                       confirm="{seeds: 2, max_architectures: 2}")
    assert main(["--space", str(space), "--quiet"]) == 0
    study = optuna.load_study(study_name="browser",
                              storage=f"sqlite:///{tmp_path / 'runs/browser/study.db'}")
    failed = study.ask()  # a trial whose worker crashed
    write_trial(failed, fail_reason="simulated crash")
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    states = {t.state for t in study.trials}
    assert optuna.trial.TrialState.COMPLETE in states and optuna.trial.TrialState.PRUNED in states
    page = write_dashboard(study, tmp_path / "dashboard.html")

    driver = _driver(tmp_path / "profile")
    try:
        _assert_renders(driver, page, FIGURES)
        assert driver.execute_script("return document.querySelectorAll('#front-table tbody tr').length") > 0
        shots = ROOT / "test-artifacts"
        shots.mkdir(exist_ok=True)
        driver.save_screenshot(str(shots / "dashboard.png"))
    finally:
        driver.quit()


def test_rungs_and_latency_prediction_figures_render(tiny_space, fashion_dir, tmp_path,
                                                     monkeypatch) -> None:
    # a multi-fidelity search, timed and predicted from a profile: the two figures only such
    # studies have
    from runners.profile_plan import run_plan
    from tests.helpers import FakeTimer, FakeTrainer, profile_plan

    monkeypatch.chdir(tmp_path)
    profile = tmp_path / "dev.json"
    run_plan(profile_plan(tiny_space), profile, device="fake device", backend="torch", repeats=5,
             plain=FakeTimer(), timer=FakeTimer(), log=lambda s: None)
    space = tiny_space("rungs", n_trials=9, extra=(
        "fidelity: {rungs: [{epochs: 1, train_subset: 100}, {epochs: 2, train_subset: 300}]}\n"))
    space.write_text(space.read_text().replace(
        "latency: {device: cpu,", f"latency: {{profile: {profile}, relative: true, device: cpu,"))
    assert main(["--space", str(space), "--quiet"], trainer=FakeTrainer()) == 0
    study = optuna.load_study(study_name="rungs", storage=f"sqlite:///{tmp_path / 'runs/rungs/study.db'}")
    page = write_dashboard(study, tmp_path / "dashboard.html")
    driver = _driver(tmp_path / "profile")
    try:
        _assert_renders(driver, page, ("rungs", "latency-prediction"))
    finally:
        driver.quit()
