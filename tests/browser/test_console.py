"""The web console in a real Chromium against the local deployment: what a user does, page by page.

One clip is uploaded through the upload page (paused, the page reloaded, resumed) and shared by the later tests once
it is COMPLETED: the player, the page of another origin, the job's details and the statistics. The tests run in file
order; each later one fails (never skips) when the shared job is missing. Media is generated with the layer's ffmpeg.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import m3u8
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, Request, Response, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import SCREENSHOTS, BrowserLog, Console, OtherOrigin, check_page, sign_in
from tests.media_tools import LAYER_BIN
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader

JOB_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
CLIP_BYTES = 30_000_000  # "a 30 MB clip": several of the server's 8 MiB parts
# Throttled so that a part completes while the others are still in flight when Pause is pressed (the upload runs on
# loopback otherwise, done before a person could press anything); lifted for the resume.
THROTTLED_UPLOAD_BYTES_PER_S = 4 * 2**20
PIPELINE_DEADLINE_MS = 240_000
UNFINISHED = ("QUEUED", "PROCESSING")
# The browser's own console line for a response it was told to expect (a refused token, a refused file).
CLIENT_ERROR_LINE = r"Failed to load resource: the server responded with a status of 4\d\d"


# -- media ----------------------------------------------------------------------------------------------------------


def ffmpeg(*args: str) -> None:
    subprocess.run([str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (LAYER_BIN / "ffmpeg").is_file():
        pytest.fail("the ffmpeg layer is not built: run `make setup`")
    return tmp_path_factory.mktemp("browser-media")


@pytest.fixture(scope="module")
def big_clip(media: Path) -> Path:
    """~31 MB in 6 s of 640x480 at 10 fps: lossless H.264 of noise is large to upload, yet only 60 small frames for
    the pipeline to encode into its 480p and 360p rungs (two rungs: the quality selector has a choice)."""
    out = media / "resume-me.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=10:duration=6",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6",
        "-vf", "noise=alls=40:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "0", "-g", "10",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", "-shortest", str(out),
    )  # fmt: skip
    assert out.stat().st_size >= CLIP_BYTES
    return out


@pytest.fixture(scope="module")
def slow_clip(media: Path) -> Path:
    """30 s of 360p at a low bitrate: an upload of a second, and a job long enough to cancel from the jobs page."""
    out = media / "cancel-me.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15:duration=30",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-b:v", "300k", str(out),
    )  # fmt: skip
    return out


# -- the job the tests share ----------------------------------------------------------------------------------------


@dataclass
class Shared:
    job_id: str | None = None
    job: dict[str, Any] = field(default_factory=dict)

    def completed(self) -> dict[str, Any]:
        if not self.job_id or self.job.get("status") != "COMPLETED":
            pytest.fail("no completed job: test_upload_pause_reload_resume_until_completed did not make one")
        return self.job


@pytest.fixture(scope="module")
def shared() -> Shared:
    return Shared()


def ladder_heights(job: dict[str, Any]) -> list[int]:
    """The heights of the job's rungs, as its HLS master playlist lists them."""
    master = m3u8.loads(httpx.get(job["outputs"]["playback_url"], timeout=30).raise_for_status().text)
    heights = sorted({p.stream_info.resolution[1] for p in master.playlists if p.stream_info.resolution}, reverse=True)
    assert heights, f"no rung with a resolution in {job['outputs']['playback_url']}"
    return heights


# -- helpers --------------------------------------------------------------------------------------------------------


def part_number(request: Request) -> int | None:
    """The part number of a presigned S3 part PUT (None for every other request)."""
    if request.method != "PUT":
        return None
    query = parse_qs(urlsplit(request.url).query)
    if "uploadId" not in query or "partNumber" not in query:
        return None
    return int(query["partNumber"][0])


def until(page: Page, what: str, probe: Callable[[], Any], timeout_s: float) -> Any:
    """Polls `probe` (while Playwright delivers the page's events) until it is truthy or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        page.wait_for_timeout(100)
    return value


def api_until(
    console: Console, job_id: str, what: str, test: Callable[[dict[str, Any]], bool], timeout_s: float
) -> Any:
    deadline = time.monotonic() + timeout_s
    with console.api() as api:
        while True:
            job = api.get_job(job_id)
            if test(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for job {job_id} {what}: {job}")
            time.sleep(0.5)


def nav_to(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def wait_playing(page: Page, video: str, heights: list[int], beyond_s: float) -> None:
    """The video plays on past `beyond_s` (and 2 s) at one of the ladder's heights, not having ended."""
    try:
        page.wait_for_function(
            """([selector, heights, beyond]) => {
                const v = document.querySelector(selector);
                return v && !v.ended && v.currentTime > Math.max(2, beyond) && heights.includes(v.videoHeight);
            }""",
            arg=[video, heights, beyond_s],
            timeout=30_000,
        )
    except PlaywrightTimeoutError:
        state = page.evaluate(
            """s => { const v = document.querySelector(s); return v && {currentTime: v.currentTime, paused: v.paused,
                ended: v.ended, videoHeight: v.videoHeight, readyState: v.readyState, error: v.error?.message,
                alerts: [...document.querySelectorAll('[role=alert]')].map(a => a.textContent)}; }""",
            video,
        )
        raise AssertionError(f"{video} did not play past {max(2, beyond_s):.1f} s at {heights}: {state}") from None


def start_if_paused(page: Page, video: str) -> None:
    """A person presses play when the player did not start by itself (muted, as autoplay rules allow)."""
    page.wait_for_function("s => document.querySelector(s)?.readyState >= 2", arg=video, timeout=30_000)
    page.evaluate(
        "s => { const v = document.querySelector(s); if (v.paused) { v.muted = true; return v.play(); } }", video
    )


# -- the tests ------------------------------------------------------------------------------------------------------


def test_sign_in_refuses_a_bad_token_and_keeps_a_good_one_out_of_the_url(
    page: Page, console: Console, browser_log: BrowserLog
) -> None:
    browser_log.allow(CLIENT_ERROR_LINE)  # the refused token's 401/403
    page.goto(console.url)
    expect(page).to_have_url(re.compile(r"#/sign-in$"))  # not signed in: every route leads here
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    check_page(page, "sign-in")

    page.get_by_label("API token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That token was refused")

    page.get_by_label("API token").fill(console.token)
    page.get_by_role("button", name="Sign in").click()
    nav = page.get_by_role("navigation", name="Main")
    for link in ("Upload", "Jobs", "Statistics"):
        expect(nav.get_by_role("link", name=link)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert console.token not in page.url
    assert page.evaluate("() => sessionStorage.getItem('vodpipe.token')") == console.token


def test_refused_files_show_their_reason_and_send_no_byte(
    page: Page, console: Console, media: Path, browser_log: BrowserLog
) -> None:
    browser_log.allow(CLIENT_ERROR_LINE)  # POST /uploads answers 400 for each
    text = media / "notes.txt"
    text.write_text("not a video\n")
    huge = media / "huge.mp4"
    with huge.open("wb") as sparse:  # sparse: larger than the deployment accepts, nothing on disk
        sparse.truncate(6 * 2**30)
    to_s3: list[str] = []

    def on_request(request: Request) -> None:
        if console.stack.uploads_bucket in request.url:
            to_s3.append(request.url)

    page.on("request", on_request)
    sign_in(page, console, "upload")

    page.get_by_label("Choose videos").set_input_files([text, huge])
    for path, reason in ((text, r"txt|type|extension"), (huge, r"size|large|limit|GB|GiB")):
        alert = page.locator(f'li.upload[data-file="{path.name}"]').get_by_role("alert")
        expect(alert).to_contain_text(re.compile(reason, re.IGNORECASE))
    check_page(page, "upload-refused")
    assert not to_s3, f"refused files sent requests to S3: {to_s3}"


def test_a_file_of_one_part_is_sent_once_and_queued(page: Page, console: Console, media: Path) -> None:
    """A file below S3's 5 MiB part minimum is still a multipart upload of one part: one PUT, then our API's complete
    (which the console must not send twice), and the job leaves UPLOADING."""
    small = media / "small.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24:duration=2",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(small),
    )  # fmt: skip
    assert small.stat().st_size < 5 * 2**20
    puts: list[int | None] = []
    page.on("request", lambda request: puts.append(part_number(request)) if request.method == "PUT" else None)
    sign_in(page, console, "upload")
    page.get_by_label("Choose videos").set_input_files(small)
    item = page.locator(f'li.upload[data-file="{small.name}"]')
    expect(item.get_by_role("link", name="View job")).to_be_visible(timeout=60_000)
    expect(item).to_have_attribute("data-state", "done")
    assert puts == [1], f"PUTs sent: {puts}"
    with console.api() as api:
        job = api.get_job(str(item.get_attribute("data-job-id")))
    assert job["status"] in {"QUEUED", "PROCESSING", "COMPLETED"}, job["status"]


def test_upload_pause_reload_resume_until_completed(
    page: Page,
    context: BrowserContext,
    console: Console,
    big_clip: Path,
    other_origin: OtherOrigin,
    shared: Shared,
) -> None:
    """Pause after a part, reload, choose the file again: only the parts S3 lacks are sent; the jobs page then
    shows the job through to COMPLETED, and so does the badge on a page of another origin, by themselves."""
    phase = "before"
    sent: dict[str, list[int]] = {"before": [], "after": []}
    stored_before: list[int] = []  # parts S3 answered 200 for before the pause
    loads: list[str] = []

    def on_request(request: Request) -> None:
        if (number := part_number(request)) is not None:
            sent[phase].append(number)

    def on_response(response: Response) -> None:
        if phase == "before" and response.status == 200 and (number := part_number(response.request)):
            stored_before.append(number)

    page.on("request", on_request)
    page.on("response", on_response)
    page.on("load", lambda loaded: loads.append(loaded.url))
    sign_in(page, console, "upload")
    expect(page.get_by_label("Priority")).to_have_value("5")
    # The mobile preset: the same 480p and 360p rungs from this source, and no MP4 to make (a shorter job).
    page.get_by_label("Preset").select_option("mobile")
    check_page(page, "upload")

    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttle = {"offline": False, "latency": 0, "downloadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions", throttle | {"uploadThroughput": THROTTLED_UPLOAD_BYTES_PER_S})

    page.get_by_label("Choose videos").set_input_files(big_clip)
    item = page.locator(f'li.upload[data-file="{big_clip.name}"]')
    expect(item).to_have_attribute("data-job-id", JOB_ID)
    job_id = str(item.get_attribute("data-job-id"))
    bar = item.get_by_role("progressbar", name=f"{big_clip.name} progress")
    expect(bar).to_be_visible()
    expect(item).to_contain_text(re.compile(r"/s\b"))  # the speed while it runs
    until(page, "a part to reach S3", lambda: stored_before, 60)
    item.get_by_role("button", name="Pause").click()
    sent_at_pause = len(sent["before"])
    check_page(page, "upload-paused")
    assert int(bar.get_attribute("aria-valuenow") or 0) < 100

    with console.api() as api:
        # What S3 holds once the aborted parts settle: the same answer twice in a row.
        listing = until(
            page, "the part list to settle", lambda: (a := api.list_parts(job_id)) == api.list_parts(job_id) and a, 10
        )
    have = sorted(p.part_number for p in listing.parts)
    missing = sorted(set(range(1, listing.part_count + 1)) - set(have))
    assert have, "paused before any part was stored"
    assert missing, f"every part was stored before the pause ({have}): nothing left to resume"
    assert len(sent["before"]) == sent_at_pause, f"parts were still sent after Pause: {sent['before']}"

    cdp.send("Network.emulateNetworkConditions", throttle | {"uploadThroughput": -1})
    phase = "after"
    page.reload()
    item = page.locator(f'li.upload[data-file="{big_clip.name}"]')
    expect(item).to_be_visible()  # listed from localStorage after the reload
    expect(item).to_have_attribute("data-job-id", job_id)
    check_page(page, "upload-after-reload")
    page.get_by_label("Choose videos").set_input_files(big_clip)  # choosing the same file again resumes it
    view = item.get_by_role("link", name="View job")
    expect(view).to_be_visible(timeout=60_000)
    expect(view).to_have_attribute("href", re.compile(job_id))
    assert sorted(sent["after"]) == missing, (
        f"after the reload the browser sent parts {sorted(sent['after'])}; S3 lacked {missing} (had {have})"
    )

    # Another origin's page, while the job is still on its way.
    other = context.new_page()
    other.goto(other_origin.page_for(console, job_id, name="embed-live"))
    staying, hiding = other.locator("#staying"), other.locator("#hiding")
    expect(staying).to_have_attribute("status", re.compile("|".join(UNFINISHED)))

    page.bring_to_front()
    loads_before = len(loads)
    nav_to(page, "Jobs")
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row).to_be_visible()
    # What the row shows over time, sampled in the page: it has to move through the states without a reload.
    page.evaluate(
        """id => { window.__seen = []; setInterval(() => {
            const s = document.querySelector(`tr[data-job-id="${id}"]`)?.dataset.status;
            if (s && window.__seen.at(-1) !== s) window.__seen.push(s); }, 100); }""",
        job_id,
    )
    expect(row.get_by_role("progressbar")).to_be_visible()
    expect(row).to_have_attribute("data-status", "COMPLETED", timeout=PIPELINE_DEADLINE_MS)
    seen = page.evaluate("() => window.__seen")
    assert len(loads) == loads_before, "the jobs page was reloaded"
    assert any(s in UNFINISHED for s in seen), f"the row was never seen unfinished: {seen}"
    expect(row.get_by_role("link", name="Play")).to_be_visible()
    expect(row.get_by_role("link", name="Details")).to_be_visible()
    check_page(page, "jobs")

    expect(staying).to_have_attribute("status", "COMPLETED", timeout=30_000)
    expect(staying.get_by_text(re.compile("Completed", re.IGNORECASE))).to_be_visible()
    expect(hiding).to_be_hidden()
    check_page(other, "badge-other-origin")

    with console.api() as api:
        shared.job = api.get_job(job_id)
    shared.job_id = job_id
    assert shared.job["status"] == "COMPLETED", shared.job
    assert shared.job["preset"]["name"] == "mobile", shared.job["preset"]


def test_player_plays_hls_then_dash_and_lists_the_rungs(page: Page, console: Console, shared: Shared) -> None:
    job = shared.completed()
    heights = ladder_heights(job)
    manifests: list[str] = []

    def on_response(response: Response) -> None:
        if response.ok and urlsplit(response.url).path.endswith((".m3u8", ".mpd")):
            manifests.append(response.url)

    page.on("response", on_response)
    sign_in(page, console, f"play/{job['job_id']}")
    video = "#player-video"
    formats = page.get_by_role("radiogroup", name="Format")
    quality = page.get_by_label("Quality")

    formats.get_by_role("radio", name="HLS").check()
    start_if_paused(page, video)
    wait_playing(page, video, heights, 0)
    assert any(".m3u8" in url for url in manifests), manifests
    expect(quality.get_by_role("option", name="Auto")).to_be_attached()
    for height in heights:
        expect(quality.get_by_role("option", name=f"{height}p")).to_be_attached()
    check_page(page, "player-hls")

    # Back to the start, as a person would before comparing: the player keeps the position across formats.
    page.locator(video).evaluate("v => v.pause()")
    page.get_by_label("Seek").fill("0")
    page.wait_for_function("s => document.querySelector(s).currentTime < 1", arg=video)
    with page.expect_response(lambda r: r.ok and r.url.split("?")[0].endswith(".mpd")):
        formats.get_by_role("radio", name="DASH").check()
    start_if_paused(page, video)
    wait_playing(page, video, heights, 0)
    expect(formats.get_by_role("radio", name="DASH")).to_be_checked()

    seek = page.get_by_label("Seek")
    seek.hover()
    preview = page.locator(".storyboard-preview")
    expect(preview).to_be_visible()
    background = preview.evaluate(
        "e => getComputedStyle(e).backgroundImage + ' ' + getComputedStyle(e).backgroundPosition"
    )
    assert "url(" in background, background
    check_page(page, "player-dash")


def test_another_origin_plays_the_hls_and_dash_urls(
    page: Page, console: Console, other_origin: OtherOrigin, shared: Shared
) -> None:
    job = shared.completed()
    heights = ladder_heights(job)
    page.goto(other_origin.page_for(console, job["job_id"], name="embed-completed"))
    expect(page.locator("#staying")).to_have_attribute("status", "COMPLETED")
    expect(page.locator("#hiding")).to_be_hidden()
    for url in (job["outputs"]["playback_url"], job["outputs"]["dash_url"]):
        tracks = page.evaluate("url => play(url)", url)
        assert sorted(set(tracks), reverse=True) == heights, (url, tracks)
        wait_playing(page, "#video", heights, 0)
    check_page(page, "other-origin-player")


def test_job_detail_lists_events_and_copies_urls(
    page: Page, context: BrowserContext, console: Console, shared: Shared
) -> None:
    job = shared.completed()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console.origin)
    sign_in(page, console, "jobs")
    page.locator(f'tr[data-job-id="{job["job_id"]}"]').get_by_role("link", name="Details").click()
    expect(page).to_have_url(re.compile(rf"#/jobs/{job['job_id']}$"))
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    main = page.get_by_role("main")
    expect(main.get_by_role("listitem").first).to_be_visible()
    buttons = main.get_by_role("button", name=re.compile("^Copy"))
    expect(buttons.first).to_be_visible()
    copied = set()
    for button in buttons.all():
        button.click()
        copied.add(page.evaluate("() => navigator.clipboard.readText()"))
    wanted = {job["outputs"]["playback_url"], job["outputs"]["dash_url"]}
    assert wanted <= copied, f"the Copy buttons copied {copied}, not every playback URL of {wanted}"
    check_page(page, "job-detail")


def test_cancel_and_retry_from_the_jobs_page(page: Page, console: Console, slow_clip: Path, tmp_path: Path) -> None:
    with console.api() as api:
        job_id = Uploader(api, ResumeStore(tmp_path), parallel=1).upload(slow_clip).job_id
    actions: list[str] = []  # what the page asked the API to do to this job, and the answers

    def on_response(response: Response) -> None:
        if job_id in response.url and response.request.method in ("DELETE", "POST"):
            actions.append(f"{response.request.method} {urlsplit(response.url).path} -> {response.status}")

    page.on("response", on_response)
    try:
        sign_in(page, console, "jobs")
        row = page.locator(f'tr[data-job-id="{job_id}"]')
        expect(row).to_have_attribute("data-status", re.compile("|".join(UNFINISHED)))
        row.get_by_role("button", name="Cancel").click()
        until(page, "the page to send the cancel", lambda: actions, 60)
        api_until(console, job_id, f"CANCELLED after {actions}", lambda j: j["status"] == "CANCELLED", 20)
        expect(row).to_have_attribute("data-status", "CANCELLED")

        page.get_by_label("Status").select_option("CANCELLED")
        expect(row).to_be_visible()
        expect(page.locator('tr[data-job-id]:not([data-status="CANCELLED"])')).to_have_count(0)
        page.get_by_label("Status").select_option("All")

        row.get_by_role("button", name="Retry").click()
        until(page, "the page to send the retry", lambda: len(actions) > 1, 60)
        job = api_until(console, job_id, f"retried after {actions}", lambda j: j["status"] != "CANCELLED", 20)
        assert job["retry_count"] == 1, job
        expect(row).not_to_have_attribute("data-status", "CANCELLED")
        check_page(page, "jobs-retried")
    finally:
        with console.api() as api:  # do not leave it encoding beside the rest of the suite
            if api.get_job(job_id)["status"] in UNFINISHED:
                api.cancel_job(job_id)


def test_statistics_chart_and_table(page: Page, console: Console, shared: Shared) -> None:
    shared.completed()
    sign_in(page, console, "stats")
    charts = page.get_by_role("main").locator("canvas")
    expect(charts.first).to_be_visible()
    labels = charts.evaluate_all("cs => cs.map(c => c.getAttribute('aria-label') || '')")
    assert all(labels), f"a chart without a label: {labels}"
    table = page.get_by_role("main").get_by_role("table").first
    expect(table).to_contain_text(re.compile("completed", re.IGNORECASE))
    check_page(page, "stats")


# What each page shows once it has loaded (beyond its heading).
NARROW_PAGES: dict[str, Callable[[Page], Locator]] = {
    "upload": lambda page: page.get_by_label("Choose videos"),
    "jobs": lambda page: page.locator("tr[data-job-id]").first,
    "stats": lambda page: page.get_by_role("main").get_by_role("table").first,
}


@pytest.mark.parametrize("route", sorted(NARROW_PAGES))
def test_pages_fit_a_narrow_screen(page: Page, console: Console, route: str) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    sign_in(page, console, route)
    expect(NARROW_PAGES[route](page)).to_be_attached()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"#/{route} is {width} px wide at 360"
    page.screenshot(path=SCREENSHOTS / f"{route}-360.png", full_page=True)
