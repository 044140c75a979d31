"""The viewer page in a real headless browser (Debian chromium driven by Playwright).

Skips, saying why, when chromium or the Playwright package is absent. The screenshot is
saved as artifacts/viewer.png (gitignored) for a person to look at.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from viewer_helpers import MixedSource, free_port, wait_for

import evrt
from evrt.sinks.imaging import ON_RGB
from evrt.sinks.viewer.node import ViewerSink

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page():
    if CHROMIUM is None:
        pytest.skip("chromium not installed (apt-get install -y chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright for Python not installed (pip install playwright)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1000, "height": 900})
        finally:
            browser.close()


COUNT_ON_PIXELS = """(img) => {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] === R && d[i+1] === G && d[i+2] === B) n++;
  return n;
}""".replace("R", str(ON_RGB[0])).replace("G", str(ON_RGB[1])).replace("B", str(ON_RGB[2]))


def test_viewer_page_in_headless_chromium(page):
    port = free_port()
    viewer = ViewerSink(port=port, fps=20, linger=1.0)
    g = evrt.Graph("browser", stats_interval=0.25)
    # about 1 Mev/s: a moving bar plus 0.8 Mev/s of noise, paced at real time
    g.add("camera", "synthetic", pattern="moving_bar", duration=6.0, speed=1.0, noise_rate=8e5,
          stream="camera")
    g.add("mixed", MixedSource(count=100, period_s=0.05))
    g.add("view", viewer, inputs=["camera", "mixed"])
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("result", g.run()), daemon=True)
    thread.start()
    wait_for(lambda: viewer.url, timeout=30)
    page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded", timeout=20_000)

    page.wait_for_function(
        "Number(document.querySelector('img[data-stream=camera]')?.dataset.frames || 0) >= 5",
        timeout=20_000)
    cam = page.locator('img[data-stream="camera"]')
    assert cam.evaluate("img => img.naturalWidth") == 346
    assert cam.evaluate(COUNT_ON_PIXELS) > 0  # ON events reached the page as green pixels
    first_frames = int(cam.get_attribute("data-frames"))

    page.wait_for_function("window.evrtViewer.statsUpdates >= 2", timeout=20_000)
    updates1 = page.evaluate("window.evrtViewer.statsUpdates")
    table1 = page.inner_text("#stats tbody")
    page.wait_for_function(f"window.evrtViewer.statsUpdates >= {updates1 + 2}", timeout=20_000)
    table2 = page.inner_text("#stats tbody")
    assert table1 != table2  # the stats table keeps updating
    for node in ("camera", "mixed", "view"):
        assert page.locator(f'#stats tr[data-node="{node}"]').count() == 1
    assert int(cam.get_attribute("data-frames")) > first_frames  # frames keep arriving
    assert "timesteps" in page.inner_text("#predictions")
    assert page.locator('img[data-stream="depth"]').evaluate("img => img.naturalWidth") == 8
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer.png"), full_page=True)

    thread.join(60)
    result = out["result"]
    assert result.status == "completed"
    cam_out = result.nodes["camera"]["events_out"]
    sent = cam_out + result.nodes["mixed"]["events_out"]
    assert cam_out > 5e6  # ~1 Mev/s for 6 s
    assert result.nodes["view"]["events_in"] == sent  # lossless: every event got through
    # The viewer was never what held the source back: it spent a small share of the run in
    # process(). (The source's lag itself is not asserted here: with chromium and Playwright
    # sharing a loaded 2-core machine with the graph, CPU starvation alone can delay it; the
    # lag bound with stalled and slow clients is in test_viewer_nonblocking.py, and the
    # with/without-browser comparison in BENCHMARKS.md.)
    assert result.nodes["view"]["busy"] < 0.5
    cam_stream = viewer.state.images["camera"]
    assert cam_stream.frames_rendered > 10
    assert cam_stream.seq == cam_stream.frames_rendered + cam_stream.frames_dropped or \
        cam_stream.seq - (cam_stream.frames_rendered + cam_stream.frames_dropped) <= 1
