"""The HTML report as a person sees it: headless Chromium (Debian's package, installed in the test
set-up when missing) opens the one file, with no network, takes a screenshot, and the chart and
the key numbers are there."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

ACCENT = (0x2F, 0x5D, 0x9E)  # the bars' colour in the report's stylesheet
LOST = (0xC0, 0x39, 0x2B)  # shipped orders


def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium():
    import debian

    why = debian.ensure("chromium", lambda: _browser() is not None)
    if why:
        pytest.skip(f"no headless browser: {why}")
    return _browser()


def run_chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)  # a guard against a hang only
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def pixels_near(image: Image.Image, colour: tuple[int, int, int], spread: int = 12) -> int:
    return sum(count for count, rgb in image.getcolors(maxcolors=1 << 24)
               if all(abs(a - b) <= spread for a, b in zip(rgb, colour)))


@pytest.fixture
def demo_report(cli, home):
    from incident.sandbox import demo

    ids = [incident_id for _, incident_id, _ in demo.run(home)]
    us = next(i for i in ids if "sonic" in i)
    path = Path(cli("report", "--incident", us).stdout.strip())
    return us, path


@pytest.mark.long
def test_the_html_report_renders_with_its_chart_and_numbers(chromium, demo_report, cli, tmp_path):
    incident_id, path = demo_report
    url = path.resolve().as_uri()
    desktop, phone = tmp_path / "report-desktop.png", tmp_path / "report-phone.png"
    dom = run_chromium(chromium, tmp_path / "profile-1", "--window-size=1280,2200", f"--screenshot={desktop}",
                       "--dump-dom", url).stdout  # one page load: its DOM and its picture
    head = cli.json("log", "verify", "--incident", incident_id)["head"]
    status = cli.json("status", "--incident", incident_id)
    assert re.search(r'<b id="affected-orders">\s*260\s*</b>', dom)
    assert status["counts"]["affected_orders"] == 260
    assert f'<code class="hash" id="head-hash">{head}</code>' in dom
    assert '<svg class="chart"' in dom and len(re.findall(r'<rect class="bar"', dom)) == 28  # 28 minutes with orders
    assert "12,249.50 USD" in dom  # revenue lost on the shipped orders
    assert "<script" not in dom and "http://" not in dom and "https://" not in dom

    run_chromium(chromium, tmp_path / "profile-2", "--window-size=390,3000", f"--screenshot={phone}", url)
    for shot, size in ((desktop, (1280, 2200)), (phone, (390, 3000))):
        image = Image.open(shot).convert("RGB")
        assert image.size == size
        assert len(image.getcolors(maxcolors=1 << 24)) > 50  # not a blank page
        assert pixels_near(image, ACCENT) > 300, f"no chart bars in {shot}"
        assert pixels_near(image, LOST) > 20, f"no shipped orders in the chart in {shot}"
