"""What the browser tests stand on: a real `parley` server process on a
loopback port, its HTTP API for setting things up, and Chromium driven over
WebDriver, one browser (its own profile, so its own tab storage) per person.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("PARLEY_BIN", ROOT / ".build" / "debug" / "parley"))
# Screenshots go here; `scripts/screenshots` points it at docs/screenshots.
SCREENSHOTS = Path(os.environ.get("PARLEY_SCREENSHOTS", ROOT / ".build" / "screenshots"))
WAIT = 20  # seconds any one expected change may take

# Every visible text against the background it is drawn on, with WCAG 2's
# contrast ratio: 4.5:1 for text, 3:1 for large text. Returns what fails.
CONTRAST_FAILURES = """
const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
  const p = m[1].split(',').map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
const lum = ({r, g, b}) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const over = (top, under) => ({r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
  b: top.b * top.a + under.b * (1 - top.a), a: 1});
const background = el => { const layers = [];
  for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0) { layers.push(c); if (c.a === 1) break; } }
  return layers.reverse().reduce((under, top) => over(top, under), {r: 255, g: 255, b: 255, a: 1}); };
const failures = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const el = node.parentElement; if (!node.textContent.trim() || !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
  const style = getComputedStyle(el); const bg = background(el); const fg = over(parse(style.color), bg);
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a); const ratio = (hi + 0.05) / (lo + 0.05);
  const size = parseFloat(style.fontSize); const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) failures.push(`${el.tagName}.${el.className} "${node.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
}
return failures;
"""

UNLABELLED_FIELDS = """
return [...document.querySelectorAll('input, textarea, select')]
  .filter(f => f.type !== 'hidden' && f.checkVisibility())
  .filter(f => !f.labels?.length && !f.getAttribute('aria-label') && !f.getAttribute('aria-labelledby'))
  .map(f => f.id || f.name || f.outerHTML.slice(0, 60));
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, sql):
    subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True)


class Endpoint:
    """Where a browser or a test reaches Parley: one server, one node of a
    cluster, or the load balancer in front of them (`url`)."""

    def __init__(self, url):
        self.url = url

    # The HTTP API, for setting up what a test is not about.

    def call(self, method, path, body=None, token=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def sign_up(self, handle, display_name=None, password="correct horse battery"):
        body = {"handle": handle, "password": password}
        if display_name:
            body["display_name"] = display_name
        status, answer = self.call("POST", "/v1/accounts", body)
        assert status == 201, (status, answer)
        return answer["user"] | {"token": answer["token"], "password": password}


class Server(Endpoint):
    """`parley serve` with a throwaway database, stopped and started at will
    on the same port and database, as an operator would restart it."""

    def __init__(self, *extra_args):
        self.directory = Path(tempfile.mkdtemp(prefix="parley-browser-"))
        # PARLEY_BROWSER_POSTGRES names a PostgreSQL server (scripts/test
        # starts one): each server then gets a database of its own on it.
        self.postgres = os.environ.get("PARLEY_BROWSER_POSTGRES")
        if self.postgres:
            name = "parley_browser_" + uuid.uuid4().hex
            self.postgres_database = name
            self.database = self.postgres.rsplit("/", 1)[0] + "/" + name
            psql(self.postgres, f"CREATE DATABASE {name}")
        else:
            self.database = str(self.directory / "parley.sqlite")
        self.port = free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        self.extra_args = list(extra_args)
        self.process = None
        self.log = open(self.directory / "server.log", "ab")

    def start(self):
        command = [
            str(BINARY), "serve", "--port", str(self.port),
            "--database", self.database,
            "--public", str(ROOT / "Public"), "--bcrypt-cost", "10", "--log-level", "warning",
            # Every user of a suite signs up from 127.0.0.1.
            "--signup-rate", "0",
        ] + self.extra_args
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"parley exited with {self.process.wait()}; see {self.directory}/server.log")
            if b"Parley is listening" in line:
                return self
        raise RuntimeError("parley did not start within 60 s")

    def kill(self):
        """Stops the process at once, as a crash would: no drain, no goodbye."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process.stdout.close()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
                self.process.stdout.close()
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self):
        self.stop()
        self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        if self.postgres:
            psql(self.postgres, f"DROP DATABASE IF EXISTS {self.postgres_database} WITH (FORCE)")


class Browser:
    """One person's Chromium, with the steps a person takes in the client."""

    def __init__(self, server, width=1280, height=800):
        options = webdriver.ChromeOptions()
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         f"--window-size={width},{height}", "--lang=en-US"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                                       options=options)
        if width < 500:
            # Chromium will not make a window narrower than 500 px: emulate a
            # phone's screen instead.
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
        self.server = server
        self.driver.get(server.url + "/")
        self.wait_for(lambda: self.find("#auth-form") or self.visible("#chat-view"))

    def quit(self):
        try:
            self.driver.quit()
        except WebDriverException:
            pass

    # Finding and waiting.

    def find(self, css):
        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        return found[0] if found else None

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css):
        element = self.find(css)
        try:
            return element if element is not None and element.is_displayed() else None
        except StaleElementReferenceException:
            return None

    def wait_for(self, condition, message="", timeout=WAIT):
        """Polls until `condition()` is truthy; the DOM changes under it, so
        stale elements just mean "not yet"."""
        def attempt(_):
            try:
                return condition()
            except StaleElementReferenceException:
                return None
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(attempt, message)

    def wait_visible(self, css, timeout=WAIT):
        return self.wait_for(lambda: self.visible(css), f"{css} never became visible", timeout)

    def text(self, css):
        element = self.find(css)
        return element.text if element is not None else None

    def script(self, source, *args):
        return self.driver.execute_script(source, *args)

    def console_errors(self):
        return [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def screenshot(self, name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))

    # Steps.

    def fill(self, css, value):
        field = self.wait_visible(css)
        field.clear()
        field.send_keys(value)
        return field

    def sign_up(self, handle, display_name, password="correct horse battery"):
        self.fill("#auth-handle", handle)
        self.fill("#auth-password", password)
        self.fill("#auth-display-name", display_name)
        self.wait_visible("#signup-button").click()
        self.wait_ready()

    def log_in(self, handle, password="correct horse battery"):
        self.fill("#auth-handle", handle)
        self.fill("#auth-password", password)
        self.wait_visible("#login-button").click()
        self.wait_ready()

    def wait_ready(self):
        self.wait_visible("#chat-view")
        self.wait_for(lambda: self.connection_state() == "connected", "the socket never became ready")

    def connection_state(self):
        status = self.find("#connection-status")
        return status.get_attribute("data-state") if status is not None else None

    def open_direct(self, handle):
        self.fill("#people-search", handle)
        self.wait_visible(f'#people-results li[data-user-handle="{handle}"] button').click()
        return self.wait_open_conversation()

    def wait_open_conversation(self):
        return self.wait_for(lambda: self.find("#conversation-pane").get_attribute("data-conversation-id"),
                             "no conversation opened")

    def open_conversation(self, conversation_id):
        self.wait_visible(f'li.conversation[data-conversation-id="{conversation_id}"] button.conversation-open').click()
        self.wait_for(lambda: self.find("#conversation-pane").get_attribute("data-conversation-id") == conversation_id)

    def send(self, text):
        box = self.wait_visible("#composer-input")
        box.send_keys(text)
        self.wait_visible("#composer-send").click()

    def entry(self, conversation_id):
        return self.find(f'li.conversation[data-conversation-id="{conversation_id}"]')

    def unread(self, conversation_id):
        """The unread badge's number, 0 when there is no visible badge."""
        badge = self.find(f'li.conversation[data-conversation-id="{conversation_id}"] .unread-badge')
        return int(badge.text) if badge is not None and badge.is_displayed() and badge.text else 0

    def messages(self):
        """The open conversation's messages as (seq or None, text, mine, status)."""
        return self.script("""
            return [...document.querySelectorAll('#message-list li.message')].map(li => [
                li.dataset.seq ? Number(li.dataset.seq) : null,
                li.querySelector('.message-text').textContent,
                li.dataset.mine === 'true',
                li.querySelector('.message-status')?.dataset.status ?? null]);
        """)

    def wait_message(self, text, status=None):
        """Waits for `text` to show, with `status` (one, or any of a tuple) if given."""
        statuses = (status,) if isinstance(status, str) else status
        def shown():
            for seq, shown_text, _, shown_status in self.messages():
                if shown_text == text and (statuses is None or shown_status in statuses):
                    return seq or True
            return None
        return self.wait_for(shown, f"message {text!r} (status {status}) never showed")


class Cluster:
    """`scripts/cluster`: several nodes of the real binary on one PostgreSQL
    database, Debian's nginx in front. `balancer` is nginx; `nodes` are the
    nodes themselves, for a browser that must be on a given one."""

    def __init__(self, nodes=2):
        self.directory = Path(tempfile.mkdtemp(prefix="parley-cluster-test-"))
        self.node_count = nodes
        # On the PostgreSQL server scripts/test started, if any (a database
        # of its own); else the script starts a throwaway one.
        self.postgres = os.environ.get("PARLEY_TEST_POSTGRES")
        self.postgres_database = None
        self.process = None
        self.log = open(self.directory / "cluster.log", "ab")

    def start(self):
        env_file = self.directory / "cluster.env"
        command = [str(ROOT / "scripts" / "cluster"), "--nodes", str(self.node_count), "--print-env", str(env_file)]
        if self.postgres:
            self.postgres_database = "parley_cluster_" + uuid.uuid4().hex
            psql(self.postgres, f"CREATE DATABASE {self.postgres_database}")
            command += ["--postgres", self.postgres.rsplit("/", 1)[0] + "/" + self.postgres_database]
        command += ["--", "--bcrypt-cost", "10", "--log-level", "warning", "--signup-rate", "0"]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=self.log, env=os.environ | {"PARLEY_BIN": str(BINARY)},
                                        start_new_session=True)
        deadline = time.monotonic() + 120
        while not env_file.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"scripts/cluster exited with {self.process.returncode}; see {self.directory}/cluster.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not start within 120 s; see {self.directory}/cluster.log")
            time.sleep(0.2)
        values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
        self.balancer = Endpoint(values["PARLEY_CLUSTER_URL"].rstrip("/"))
        self.nodes = [Endpoint(f"http://127.0.0.1:{port}") for port in values["PARLEY_CLUSTER_NODE_PORTS"].split(",")]
        return self

    def close(self):
        # The script stops nginx, then the nodes, then its PostgreSQL.
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        if self.postgres_database:
            psql(self.postgres, f"DROP DATABASE IF EXISTS {self.postgres_database} WITH (FORCE)")
        shutil.rmtree(self.directory, ignore_errors=True)
