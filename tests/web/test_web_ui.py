"""The web UI in a real headless browser (Debian's ``chromium`` driven through its
``chromium-driver`` by Selenium; nothing is downloaded): open the library, start a scan, watch
it finish, see the matches, sort them, open a frame pair, play both sides.

Set ``HOMAGE_SCREENSHOTS=DIR`` to save the screenshots the README shows.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Corpus
from homage.config import Settings
from homage.library import Library
from homage.pipeline import index_paths
from homage.web import HomageServer, make_server
from synth_video import Footage

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                       reason="needs Debian's chromium and chromium-driver "
                              "(apt-get install chromium chromium-driver)"),
]

from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

HOSTILE = '<script>alert(1)<script> <img src=x onerror="alert(2)"> sample'


@pytest.fixture(scope="module")
def server(footage: Footage, corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[HomageServer]:
    """The web UI over a library of two films and a song."""
    settings = Settings(library=tmp_path_factory.mktemp("uilib") / "library",
                        kinds=("audio", "copy"))
    with Library.open(settings.library, settings=settings.audio,
                      visual=settings.visual) as library:
        report = index_paths(library, [footage.ref, footage.other, corpus.refs["a"]],
                             settings=settings)
        assert report.failed == []
    server = make_server(settings, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def queries(footage: Footage, corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
            ) -> Path:
    """A folder holding copied footage and a sped-up sample (under a hostile name)."""
    folder = tmp_path_factory.mktemp("uiqueries")
    shutil.copy(footage.query, folder / "music video.mp4")
    shutil.copy(corpus.queries["speed_1.25"], folder / f"{HOSTILE}.wav")
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1100,1400", "--mute-audio",
                     "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER),
                              options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def screenshot(driver: webdriver.Chrome, name: str) -> None:
    folder = os.environ.get("HOMAGE_SCREENSHOTS")
    if not folder:
        return
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    try:  # a 256-colour palette keeps the picture small enough for a README
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as picture:
        picture.convert("RGB").quantize(256).save(path, optimize=True)


def no_alert(driver: webdriver.Chrome) -> bool:
    try:
        _ = driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def test_library_scan_matches_and_frame_pair(server: HomageServer, queries: Path,
                                             browser: webdriver.Chrome) -> None:
    wait = WebDriverWait(browser, 120, poll_frequency=0.2)
    # the library page
    browser.get(server.url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Library"
    works = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "td.work")]
    assert len(works) == 3 and any(w.endswith("ref.mp4") for w in works)
    assert "3 works" in browser.find_element(By.ID, "stats").text

    # start a scan of the folder and watch it finish
    browser.find_element(By.ID, "scan-path").send_keys(str(queries))
    browser.find_element(By.ID, "scan-start").click()
    wait.until(lambda d: "/scans/" in d.current_url)
    wait.until(lambda d: d.find_elements(By.ID, "matches"))

    # the matches: a timeline segment and an article per match, names shown as text
    rows = browser.find_elements(By.CSS_SELECTOR, "#matches tbody tr")
    kinds = {row.find_elements(By.TAG_NAME, "td")[2].text for row in rows}
    assert kinds == {"visual copy", "audio sample"}
    assert len(rows) == len(browser.find_elements(By.CSS_SELECTOR, "a.seg")) == \
        len(browser.find_elements(By.CSS_SELECTOR, "article.match")) >= 4
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section.query h2")]
    assert headings == [f"{HOSTILE}.wav", "music video.mp4"]
    assert not browser.find_elements(By.CSS_SELECTOR, "img[src=x]") and no_alert(browser)

    # sort by score (ascending, then descending)
    score = browser.find_element(By.XPATH, "//th/button[text()='score']")
    score.click()
    values = [float(r.find_elements(By.TAG_NAME, "td")[6].get_attribute("data-value"))
              for r in browser.find_elements(By.CSS_SELECTOR, "#matches tbody tr")]
    assert values == sorted(values)
    score.click()
    values = [float(r.find_elements(By.TAG_NAME, "td")[6].get_attribute("data-value"))
              for r in browser.find_elements(By.CSS_SELECTOR, "#matches tbody tr")]
    assert values == sorted(values, reverse=True)

    # both sides play from the media endpoint, at the matched times
    wait.until(lambda d: d.execute_script(
        "return Array.from(document.querySelectorAll('video')).every(v => v.readyState >= 1)"))
    starts = browser.execute_script(
        "return Array.from(document.querySelectorAll('video, audio')).map("
        "v => [v.currentTime, parseFloat(/#t=([0-9.]+)/.exec(v.getAttribute('src'))[1])])")
    assert starts and all(abs(now - wanted) < 0.1 for now, wanted in starts
                          if now > 0 or wanted < 0.1)
    browser.execute_script("document.getElementById('q1').scrollIntoView()")
    screenshot(browser, "screenshot-report.png")

    # open a frame pair
    pair = browser.find_element(By.CSS_SELECTOR, "a.pair")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", pair)
    pair.click()
    viewer = browser.find_element(By.ID, "viewer")
    wait.until(lambda d: viewer.get_attribute("open") is not None)
    images = viewer.find_elements(By.TAG_NAME, "img")
    assert len(images) == 2 and all(
        browser.execute_script("return arguments[0].naturalWidth", img) > 0 for img in images)
    assert "query" in viewer.text and "reference" in viewer.text
    screenshot(browser, "screenshot-pair.png")
    viewer.find_element(By.CSS_SELECTOR, "button.close").click()
    wait.until(lambda d: viewer.get_attribute("open") is None)

    # the library page lists the scan
    browser.get(server.url)
    assert "done" in browser.find_element(By.ID, "scans").text
    screenshot(browser, "screenshot-ui.png")
