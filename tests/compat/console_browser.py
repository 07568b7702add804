"""The web console in a real headless Chromium: the browser fixture and the
page helpers every console test file shares (test_console*.py).

Chromium and its driver are Debian's (`chromium`, `chromium-driver`),
driven with Selenium. Every page a test visits is saved as a screenshot in
$SHALE_CONSOLE_SCREENSHOTS (default `tests/compat/artifacts/console/`).
"""

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import REPO_ROOT, error_code

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = os.environ.get("SHALE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SHALE_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(os.environ.get(
    "SHALE_CONSOLE_SCREENSHOTS",
    REPO_ROOT / "tests" / "compat" / "artifacts" / "console"))
WAIT = 20  # seconds any one page may take
WRONG_CREDENTIALS = "The access key or secret is wrong"
PREFIX = "/_shale/console/"


class Console:
    """One browser on the console of `server`."""

    def __init__(self, driver, server, test_name):
        self.driver = driver
        self.server = server
        self.name = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name)
        self.shots = 0

    def url(self, page=""):
        return f"{self.server.endpoint}{PREFIX}{page}"

    def shot(self, label):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = SCREENSHOTS / f"{self.name}-{self.shots:02d}-{label}.png"
        assert self.driver.save_screenshot(str(path)), path

    def wait(self, condition):
        return WebDriverWait(self.driver, WAIT).until(condition)

    def open(self, page, label=None):
        self.driver.get(self.url(page))
        self.wait(lambda d: d.execute_script(
            "return document.readyState") == "complete")
        self.shot(label or (page.replace("/", "-") or "root"))

    def submit(self, button, label):
        """Clicks a form's button and waits for the next page: a mark left
        on this page's window is gone on the next one. (Not
        `EC.staleness_of`: chromedriver may raise an inspector error for
        the old node instead of a stale-element one.)"""
        self.driver.execute_script("window.__shaleOldPage = true")
        button.click()
        WebDriverWait(self.driver, WAIT,
                      ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script(
                "return window.__shaleOldPage === undefined"
                " && document.readyState === 'complete'"))
        self.shot(label)

    @property
    def path(self):
        return "/" + self.driver.current_url.split("/", 3)[3]

    def sign_in(self, access_key, secret_key):
        self.open("sign-in")
        self.wait(EC.presence_of_element_located((By.ID, "access_key")))
        self.driver.find_element(By.ID, "access_key").send_keys(access_key)
        self.driver.find_element(By.ID, "secret_key").send_keys(secret_key)
        self.submit(self.driver.find_element(By.ID, "sign-in"), "sign-in-sent")

    def notice(self):
        return self.driver.find_element(By.ID, "notice").text

    def bucket_names(self):
        return [row.get_attribute("data-bucket") for row in
                self.driver.find_elements(By.CSS_SELECTOR, "tr[data-bucket]")]

    def create_bucket(self, name, versioning=False, region=None):
        d = self.driver
        d.find_element(By.ID, "bucket-name").send_keys(name)
        if region is not None:
            field = d.find_element(By.ID, "bucket-region")
            field.clear()
            field.send_keys(region)
        if versioning:
            d.find_element(By.ID, "bucket-versioning").click()
        self.submit(d.find_element(By.ID, "create-bucket"), "created")

    def delete_bucket(self, name):
        row = self.driver.find_element(
            By.CSS_SELECTOR, f'tr[data-bucket="{name}"]')
        self.submit(row.find_element(By.CSS_SELECTOR, "button.delete"),
                    "deleted")

    def session_cookie(self):
        cookie = self.driver.get_cookie("shale_console")
        return cookie["value"] if cookie else None


@pytest.fixture
def console(server, request):
    """A fresh Chromium (own profile) on the shared server's console."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            pytest.fail(f"{path} missing: install Debian's chromium and "
                        "chromium-driver (scripts/test.sh does)",
                        pytrace=False)
    profile = tempfile.mkdtemp(prefix="shale-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--no-proxy-server",
                "--window-size=1200,900", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(WAIT)
        driver.set_script_timeout(WAIT)
        yield Console(driver, server, request.node.name)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def lone_key(server):
    """A key with no grants at all."""
    return server.admin_json("key", "create", "--name", "console-lone")


def bucket_exists(s3, name):
    try:
        s3.head_bucket(Bucket=name)
        return True
    except ClientError as e:
        assert error_code(e) in ("404", "NoSuchBucket"), e.response
        return False
