"""Browser fixtures: Debian's Chromium (pytest-playwright) against the session's local deployment and its console.

The deployment is the integration tier's (`stack`, one per session); the console is published beside its outputs by
`deploy_local` (`LocalDeployment.console_url`). Every page a test opens fails the test on a console error or an
uncaught exception; `check_page` runs axe-core on it and writes artifacts/screenshots/<name>.png.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page, expect

from vodpipe.client.api import ApiClient
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (scripts/install-chromium.sh); Playwright downloads none
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NODE_MODULES = ROOT / "console" / "node_modules"
AXE = NODE_MODULES / "axe-core" / "axe.min.js"
SHAKA = NODE_MODULES / "shaka-player" / "dist" / "shaka-player.compiled.js"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
# Generous: on 2 shared cores a cold API Lambda (the authorizer's, the API's) takes seconds to answer.
DEFAULT_TIMEOUT_MS = 20_000
expect.set_options(timeout=DEFAULT_TIMEOUT_MS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.path):
            item.add_marker(pytest.mark.integration)  # they need the local runtime like the integration tier


# -- the browser ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch arguments, pointed at the system Chromium."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup` (scripts/install-chromium.sh)")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}, "locale": "en-US"}


@dataclass
class BrowserLog:
    """Console errors and uncaught exceptions of every page in the test's context."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Accept console errors matching `pattern` for this test (e.g. the browser's own line for an expected 4xx)."""
        self.allowed.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self.errors.append(f"console.error: {message.text} ({where})")

    def on_page_error(self, error: Error) -> None:
        self.errors.append(f"page error: {error.message}")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture(autouse=True)
def browser_log(context: BrowserContext) -> Iterator[BrowserLog]:
    """Fails the test when any page logged a console error or threw; dialogs (confirm) are accepted."""
    log = BrowserLog()
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)

    def watch(page: Page) -> None:
        page.on("console", log.on_console)
        page.on("pageerror", log.on_page_error)
        page.on("dialog", lambda dialog: dialog.accept())

    for page in context.pages:
        watch(page)
    context.on("page", watch)
    yield log
    unexpected = log.unexpected()
    if unexpected:
        pytest.fail("the browser reported errors:\n  " + "\n  ".join(unexpected), pytrace=False)


def check_page(page: Page, name: str) -> None:
    """axe-core finds no serious or critical violation on the page as it is now; its screenshot is written."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `make setup` (npm ci --prefix console)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    blocking = [v for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    assert not blocking, f"axe on {name}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in blocking
    )


# -- the deployment and its console ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Console:
    stack: LocalDeployment
    url: str  # .../console/index.html
    token: str
    owner: str

    @property
    def base(self) -> str:
        """The folder the console's files are served from (ends with /)."""
        return self.url.rsplit("/", 1)[0] + "/"

    @property
    def origin(self) -> str:
        return "/".join(self.url.split("/")[:3])

    def route(self, route: str) -> str:
        return f"{self.url}#/{route}"

    def api(self) -> ApiClient:
        return ApiClient(self.stack.api_url, self.token)


@pytest.fixture(scope="session")
def console(stack: LocalDeployment, aws_client: Callable[..., Any]) -> Console:
    if not stack.console_url:
        pytest.fail("the deployment has no console: console/dist was not built (make setup: node console/build.mjs)")
    owner = f"browser-{uuid4().hex[:8]}"
    token = create_token(aws_client("dynamodb"), stack.jobs_table, owner)
    return Console(stack, stack.console_url, token, owner)


def sign_in(page: Page, console: Console, route: str = "upload") -> None:
    """Signs in through the sign-in page as a user does, then opens `route`."""
    page.goto(console.route("sign-in"))
    page.get_by_label("API token").fill(console.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()  # signed in (the nav is on every page)
    expect(page).not_to_have_url(re.compile(r"#/sign-in$"))
    if route:
        page.goto(console.route(route))
        expect(page).to_have_url(re.compile(rf"#/{re.escape(route)}$"))


# -- a page of another origin ---------------------------------------------------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class OtherOrigin:
    """A static site on another port: a plain page with the console's badge script and Shaka Player."""

    root: Path
    url: str

    def page_for(self, console: Console, job_id: str, *, name: str = "embed") -> str:
        """Writes `<name>.html` showing the badge for `job_id` (twice: hiding on completion, and not) and a player;
        answers its URL. The page plays a URL with `await play(url)`."""
        attrs = f'job="{job_id}" api="{console.stack.api_url}" token="{console.token}"'
        html = PAGE.format(badge_js=console.base + "vodpipe-status.js", attrs=attrs)
        (self.root / f"{name}.html").write_text(html)
        return f"{self.url}/{name}.html"


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>A page on another site</title>
<link rel="icon" href="data:,">
<script src="{badge_js}"></script>
<script src="shaka-player.compiled.js"></script>
</head>
<body>
<main>
<h1>A page on another site</h1>
<p>Hides when done: <vodpipe-status id="hiding" {attrs} hide-on-complete></vodpipe-status></p>
<p>Stays: <vodpipe-status id="staying" {attrs}></vodpipe-status></p>
<video id="video" muted playsinline controls width="640" aria-label="Video"></video>
</main>
<script>
let player = null;
window.play = async (url) => {{
  const video = document.getElementById("video");
  if (!player) {{
    shaka.polyfill.installAll();
    player = new shaka.Player();
    await player.attach(video);
  }}
  await player.load(url);
  video.muted = true;
  await video.play();
  return player.getVariantTracks().map((t) => t.height);
}};
</script>
</body>
</html>
"""


@pytest.fixture(scope="session")
def other_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OtherOrigin]:
    if not SHAKA.is_file():
        pytest.fail(f"{SHAKA} is missing: run `make setup` (npm ci --prefix console)")
    root = tmp_path_factory.mktemp("other-origin")
    shutil.copy(SHAKA, root / SHAKA.name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield OtherOrigin(root, f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()
    server.server_close()


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True)[:2000]
