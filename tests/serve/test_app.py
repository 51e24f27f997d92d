"""`emovox serve` over real HTTP on localhost, and its web page in a real (headless) Chromium."""

import concurrent.futures
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.slow  # the file's tier (tests/README.md)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        cmd = [sys.executable, "-m", "emovox.cli", "serve", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stdout.read().decode())
        raise TimeoutError("server did not start")

    def post(self, path: Path | None = None, content: bytes | None = None, name="a.wav", **kw):
        data = path.read_bytes() if path is not None else content
        return httpx.post(f"{self.url}/v1/predict", files={"file": (name, data)}, timeout=120, **kw)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    s = Server("--max-upload-mb", "3", "--max-seconds", "90", "--max-pending", "2")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def clip(ravdess_manifest) -> Path:
    return Path(next(r.path for r in ravdess_manifest.rows if r.emotion == "happy"))


@pytest.fixture(scope="module")
def recording(ravdess_manifest, tmp_path_factory) -> Path:
    """About 70 s of one actor's clips with pauses."""
    from emovox.data import demo

    rows = [r for r in ravdess_manifest.rows if r.speaker.endswith("12") and r.emotion != "calm"]
    rec = demo.build(rows[::2][:22], seed=4)
    path = tmp_path_factory.mktemp("rec") / "talk.flac"
    sf.write(path, rec.wave, 16000)
    return path


def test_predict_answers_as_the_cli_does(server, clip):
    import json

    r = server.post(clip, name="clip.flac")
    assert r.status_code == 200
    body = r.json()
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "emovox.cli",
            "predict",
            str(clip),
            "--format",
            "json",
            "--engine",
            "torch",
        ],
        capture_output=True,
        check=True,
    )
    (expected,) = json.loads(cli.stdout)
    assert body["model"].startswith("default-") and body["path"] == "clip.flac"
    for key in ("emotion", "speech", "duration"):
        assert body[key] == expected[key]
    assert all(
        abs(body["probabilities"][k] - v) < 1e-3 for k, v in expected["probabilities"].items()
    )
    health, model = httpx.get(f"{server.url}/v1/health"), httpx.get(f"{server.url}/v1/model")
    assert health.json()["status"] == "ok" and model.json()["labels"][0] == "angry"
    assert "/v1/predict" in httpx.get(f"{server.url}/openapi.json").json()["paths"]


def test_bad_requests_get_4xx_and_the_next_request_still_works(server, clip, tmp_path):
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(16000 * 2, np.float32), 16000)
    long = tmp_path / "long.flac"
    sf.write(long, np.zeros(16000 * 100, np.float32) + 0.01, 16000)
    cases = [
        (
            server.post(content=b"\x00\x01garbage" * 50, name="x.mp3"),
            415,
            "not a readable audio file",
        ),
        (server.post(content=b"", name="empty.wav"), 422, "empty"),
        (server.post(long, name="long.flac"), 413, "--max-seconds"),
        (server.post(content=os.urandom(4 * 2**20), name="big.wav"), 413, "over the limit"),
        (httpx.post(f"{server.url}/v1/predict", data={"nofile": "1"}), 422, "file"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, (status, response.text)
        assert words in response.text
    silent = server.post(quiet, name="quiet.wav")  # an answer, as the CLI gives: no speech
    assert silent.status_code == 200 and silent.json()["reason"] == "silent"
    assert server.post(clip).status_code == 200
    assert httpx.get(f"{server.url}/v1/health").status_code == 200


def test_a_burst_beyond_the_queue_is_answered_429_and_health_stays_up(server, recording):
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(server.post, recording, name="talk.flac") for _ in range(6)]
        time.sleep(0.5)
        health = httpx.get(f"{server.url}/v1/health", timeout=5)
        codes = sorted(f.result().status_code for f in futures)
    assert health.status_code == 200
    assert codes.count(200) >= 2 and set(codes) <= {200, 429} and 429 in codes


def test_an_api_key_is_required_when_set_and_outside_localhost():
    s = Server("--api-key", "s3cret")
    try:
        assert httpx.get(f"{s.url}/v1/model").status_code == 401
        assert httpx.get(f"{s.url}/v1/model", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert httpx.get(f"{s.url}/v1/health").status_code == 200
    finally:
        s.stop()
    out = subprocess.run(
        [sys.executable, "-m", "emovox.cli", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 2 and b"--api-key" in out.stderr


def _open_page(p, url: str):
    """Headless Debian chromium on the page at ``url``: (browser, page)."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(url)
    return browser, page


def test_a_batch_of_uploads_can_share_one_reference(server, ravdess_manifest):
    """/v1/predict_many: answers in order, an unreadable upload answered with its error, and
    with adapt=folder the uploads read against one reference voice (as --adapt folder)."""
    rows = [r for r in ravdess_manifest.rows if r.speaker.endswith("11")][::4][:12]
    files = [("files", (Path(r.path).name, Path(r.path).read_bytes())) for r in rows]
    files.insert(2, ("files", ("broken.wav", b"RIFF not really")))
    url = f"{server.url}/v1/predict_many"
    grouped = httpx.post(url, files=files, data={"adapt": "folder"}, timeout=300)
    alone = httpx.post(url, files=files, timeout=300)
    assert grouped.status_code == alone.status_code == 200, grouped.text
    a, b = grouped.json()["answers"], alone.json()["answers"]
    assert [x["path"] for x in a] == [f[1][0] for f in files]
    assert a[2]["error"] and b[2]["error"] and a[2]["emotion"] is None
    good = [x for k, x in enumerate(a) if k != 2]
    assert all(x["adapted"] == good[0]["adapted"] for x in good)
    assert good[0]["adapted"].startswith("group uploads: 12 clips")
    # read alone: no reference at all, or (a clip over one window) why it was not adapted
    assert all(x["adapted"] is None or x["adapted"].startswith("not adapted: ")
               for k, x in enumerate(b) if k != 2)  # fmt: skip
    moved = max(
        abs(x["probabilities"][e] - y["probabilities"][e])
        for x, y in zip(a, b, strict=True)
        if x["error"] is None
        for e in x["probabilities"]
    )
    assert moved > 0.05
    # prior=group: the request's uploads under their own mix of emotions, not adapted
    more = [r for r in ravdess_manifest.rows if r.speaker.endswith("11")][1::3][:20]
    twenty = [("files", (Path(r.path).name, Path(r.path).read_bytes())) for r in more]
    own = httpx.post(url, files=twenty, data={"prior": "group", "adapt": "none"}, timeout=300)
    assert own.status_code == 200, own.text
    said = "group uploads: 20 clips, not adapted; prior: its own, estimated from its answers"
    assert all(x["adapted"] == said and x["prior"] for x in own.json()["answers"])
    wrong = httpx.post(url, files=files[:1], data={"prior": "folder"}, timeout=60)
    assert wrong.status_code == 422 and "prior must be one of model, group" in wrong.text
    bad = httpx.post(url, files=files[:1], data={"adapt": "speaker"}, timeout=60)
    assert bad.status_code == 422 and "adapt must be one of recording, folder, none" in bad.text
    old = httpx.post(url, files=files[:1], data={"adapt_by": "speaker"}, timeout=60)
    assert old.status_code == 422 and "adapt_by must be group or none" in old.text


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (README test command)")
def test_the_page_says_nothing_of_adaptation_for_a_clip(server, clip, tmp_path):
    from playwright.sync_api import sync_playwright

    wave, sr = sf.read(clip, dtype="float32")
    longer = tmp_path / "six-seconds.wav"  # over one window: read as a timeline, alone
    sf.write(longer, np.concatenate([wave, wave[: len(wave) // 2]]), sr)
    answer = server.post(longer).json()
    assert answer["adapted"].startswith("not adapted: ") and answer["warnings"] == []
    with sync_playwright() as p:
        browser, page = _open_page(p, server.url)
        page.set_input_files("#file", str(longer))
        page.wait_for_function(
            "document.querySelector('#top-emotion').dataset.answer", timeout=60000
        )
        said = page.inner_text("#reason")
        assert "adapt" not in said, said
        browser.close()


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (README test command)")
def test_the_page_shows_the_api_answer_and_draws_the_timeline(server, clip, recording, tmp_path):
    from playwright.sync_api import sync_playwright

    answer = server.post(clip).json()
    expected = answer["emotion"] or answer["reason"]  # an emotion, or "unsure"
    shots = Path(os.environ.get("EMOVOX_SCREENSHOTS", tmp_path))
    with sync_playwright() as p:
        browser, page = _open_page(p, server.url)
        page.set_input_files("#file", str(clip))
        page.wait_for_function(
            "document.querySelector('#top-emotion').dataset.answer", timeout=60000
        )
        assert page.inner_text("#top-emotion").lower() == expected  # shown capitalised
        assert page.locator(".bar").count() == 7
        arousal = f"({'+' if answer['arousal'] >= 0 else '−'}{abs(answer['arousal']):.2f})"
        assert arousal in page.inner_text("#dimensions")  # the API's arousal, on the page
        page.set_input_files("#file", str(recording))
        page.wait_for_function(
            "Number(document.querySelector('#timeline').dataset.segments) > 0", timeout=120000
        )
        assert int(page.get_attribute("#timeline", "data-segments")) >= 10
        drawn = page.evaluate(
            "(() => { const c = document.querySelector('#timeline');"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0;"
            " return n / (d.length / 4); })()"
        )
        assert drawn > 0.05  # waveform, bands and curves cover part of the canvas
        page.screenshot(path=str(shots / "web-page.png"), full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(server.url)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
        browser.close()
    assert (shots / "web-page.png").stat().st_size > 20000


@pytest.fixture(scope="module")
def conversation(ravdess_manifest, tmp_path_factory) -> Path:
    """About 70 s of a man (actor 01) and a woman (actor 02) taking turns of 1-4 clips."""
    from tests.media import conversation

    return conversation(ravdess_manifest, tmp_path_factory.mktemp("conv"))


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (README test command)")
def test_a_conversation_is_split_by_voice_in_the_api_and_on_the_page(
    server, conversation, tmp_path
):
    from playwright.sync_api import sync_playwright

    split = server.post(conversation, params={"speakers": 2}).json()
    assert {s["speaker"] for s in split["segments"]} == {"S1", "S2"}
    assert split["adapted"].startswith("each speaker's own windows: S1 ")
    one = server.post(conversation).json()  # the server's own setting: one voice
    assert {s.get("speaker") for s in one["segments"]} == {None}
    bad = server.post(conversation, params={"speakers": 9})
    assert bad.status_code == 422 and "speakers must be" in bad.text
    shots = Path(os.environ.get("EMOVOX_SCREENSHOTS", tmp_path))
    with sync_playwright() as p:
        browser, page = _open_page(p, server.url)
        page.select_option("#speakers", "2")
        page.set_input_files("#file", str(conversation))
        page.wait_for_function(
            "document.querySelector('#timeline').dataset.speakers === '2'", timeout=120000
        )
        assert "speaker S2" in page.inner_text("#legend")
        # the page says what the answer adapted to: each voice, and both kinds of head
        said = page.inner_text("#reason")
        assert "adapted to each speaker's own windows: S1 " in said
        assert said.endswith("heads: plain + speaker-normalised")
        page.screenshot(path=str(shots / "web-page-speakers.png"), full_page=True)
        browser.close()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _slow_clients(port: int, n: int) -> list[socket.socket]:
    """``n`` connections that start an upload of 1 MB and then send nothing (slow-loris)."""
    head = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n"
        b'Content-Disposition: form-data; name="file"; filename="slow.wav"\r\n\r\nRIFF'
    )
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(head)
        socks.append(s)
    return socks


def test_abuse_leaves_health_and_good_requests_answered_and_memory_back(server, clip):
    """Held slow uploads, a burst of oversized uploads and a burst of garbage: health and a
    good clip are answered throughout (their latency under load is benchmarks/serve_load.py's
    to measure); every abusive request gets a 4xx; afterwards the server's memory is back
    within 150 MB of where it was."""
    assert server.post(clip).status_code == 200  # warm: the model loaded, buffers allocated
    base = _rss_mb(server.proc.pid)
    slow = _slow_clients(server.port, 40)
    rng = np.random.default_rng(0)
    garbage = [rng.bytes(int(n)) for n in rng.integers(1, 64 * 1024, 60)]
    big = os.urandom(4 * 2**20)  # over the fixture's 3 MB limit
    statuses: list[int] = []
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        abuse = [pool.submit(server.post, content=big, name="big.wav") for _ in range(12)]
        abuse += [
            pool.submit(server.post, content=g, name=f"g{k}.mp3") for k, g in enumerate(garbage)
        ]
        for _ in range(3):
            assert httpx.get(f"{server.url}/v1/health", timeout=30).status_code == 200
        statuses = [f.result().status_code for f in abuse]
    good = server.post(clip)
    assert good.status_code == 200
    for s in slow:
        s.close()
    assert len(statuses) == 72 and all(400 <= s < 500 for s in statuses), sorted(set(statuses))
    assert statuses[:12].count(413) + statuses[:12].count(429) == 12
    time.sleep(1.0)
    assert _rss_mb(server.proc.pid) - base < 150


def test_the_schema_types_answers_and_errors_and_the_model_shows_no_paths(server):
    spec = httpx.get(f"{server.url}/openapi.json").json()
    responses = spec["paths"]["/v1/predict"]["post"]["responses"]
    assert {"200", "401", "413", "415", "422", "429"} <= set(responses)
    answer = responses["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    fields = spec["components"]["schemas"][answer]["properties"]
    assert {"emotion", "confidence", "reason", "segments", "summary", "warnings"} <= set(fields)
    for code in ("413", "415", "429"):
        assert "Problem" in str(responses[code]["content"])
    card = httpx.get(f"{server.url}/v1/model").json()["card"]
    assert card["trained_on"] == ["ravdess", "ased", "nemo"] and "/" not in str(card["trained_on"])
    assert card["evaluation"]["ua_mean"] > 0.3 and card["evaluation"]["command"]  # off-corpus UA


def test_progress_streams_before_the_answer(server, recording):
    import json

    with httpx.stream(
        "POST",
        f"{server.url}/v1/predict?stream=true",
        files={"file": ("talk.flac", recording.read_bytes())},
        timeout=120,
    ) as r:
        lines = [json.loads(line) for line in r.iter_lines() if line]
    progress = [x["progress"] for x in lines if "progress" in x]
    assert len(progress) >= 3 and progress == sorted(progress) and progress[-1] == 1.0
    assert "result" in lines[-1] and len(lines[-1]["result"]["segments"]) >= 10
    plain = server.post(recording, name="talk.flac").json()
    assert lines[-1]["result"]["probabilities"] == plain["probabilities"]


def test_serve_logs_its_address_and_each_request(clip):
    s = Server()
    try:
        assert s.post(clip, name="clip.flac").status_code == 200
    finally:
        s.stop()
    log = s.proc.stdout.read().decode()
    assert f"http://127.0.0.1:{s.port}" in log and '"POST /v1/predict HTTP/1.1" 200' in log


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (README test command)")
def test_the_page_shows_progress_an_overview_and_zooms_into_a_long_recording(
    ravdess_manifest, tmp_path
):
    from playwright.sync_api import sync_playwright

    from emovox.data import demo

    rows = [r for r in ravdess_manifest.rows if r.emotion != "calm"][::6]
    path = tmp_path / "ten-minutes.flac"
    sf.write(path, demo.build_long(rows, 600, seed=6).wave, 16000)
    shots = Path(os.environ.get("EMOVOX_SCREENSHOTS", tmp_path))
    s = Server("--max-upload-mb", "50")
    try:
        with sync_playwright() as p:
            browser, page = _open_page(p, s.url)
            page.set_input_files("#file", str(path))
            page.wait_for_function(
                "/Analysing .*\\d+%/.test(document.querySelector('#status').textContent)",
                timeout=60000,
            )
            page.wait_for_function(
                "Number(document.querySelector('#timeline').dataset.segments) > 0",
                timeout=180000,
            )
            assert page.is_visible("#overview") and page.is_visible("#legend")
            before = page.inner_text("#stretch")
            assert before.startswith("0:00–2:00 of 10:00")
            box = page.locator("#overview").bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
            after = page.inner_text("#stretch")
            assert after != before and after.startswith("6:30–8:30"), after
            page.screenshot(path=str(shots / "web-page-long.png"), full_page=True)
            browser.close()
    finally:
        s.stop()
