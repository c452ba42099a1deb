"""gradkit serve: the endpoints on real digits, every kind of bad request answered 4xx (also
under hypothesis' fuzzing), the real server process, and the page in a headless chromium.
"""
import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

import gradkit as gk
from gradkit.serve import Limits, build_app

fastapi = pytest.importorskip("fastapi", reason="the serve extra: pip install 'gradkit[serve]'")
from fastapi.testclient import TestClient  # noqa: E402

FAST = ["train.threads=1", "output.report=false", "output.explain=false"]  # only the model matters here


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """digits-cnn after 3 epochs (test accuracy about 0.97), its data, and a test client."""
    root = tmp_path_factory.mktemp("serve-digits")
    run = gk.train("digits-cnn", out=root / "run", verbose=False, overrides=["train.epochs=3", *FAST])
    client = TestClient(build_app(run.dir, Limits(max_body_bytes=200_000, max_batch=64,
                                                  max_image_pixels=512 * 512), threads=1))
    return run, run.data(), client


def png(pixels16: np.ndarray, size: int = 8) -> bytes:
    """A digits image (0..16) as a PNG file of 0..255 grey levels, optionally enlarged."""
    img = Image.fromarray((pixels16.astype(np.float32) * 255 / 16).astype(np.uint8))
    if size != 8:
        img = img.resize((size, size), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def as_read(run, data: bytes) -> np.ndarray:
    """The oracle for an image file: the run's probabilities for it as `gradkit predict` reads it
    (resized with Pillow's bilinear filter, which blurs an enlarged image: not the raw digit)."""
    from gradkit.data.inputs import load_image

    return run.predict(load_image(io.BytesIO(data), run.spec)[0][None])[0]


def error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and isinstance(body["error"], str) and body["error"]
    return body["error"]


def test_health_and_metadata(digits):
    run, _, client = digits
    assert client.get("/health").json()["status"] == "ok"
    meta = client.get("/metadata").json()
    assert meta["labels"] == [str(i) for i in range(10)] and meta["input"]["shape"] == [1, 8, 8]
    assert meta["task"] == "classification" and meta["limits"]["max_batch"] == 64
    assert meta["metrics"]["test/accuracy"] == run.metrics["test/accuracy"]


def test_json_arrays_get_the_models_predictions(digits):
    run, data, client = digits
    x, y = data.test.x[:64], data.test.y[:64]
    body = client.post("/predict", json={"inputs": x.tolist(), "top_k": 2}).json()
    assert "predictions" in body, body
    expected = run.predict(x)
    labels = [p["label"] for p in body["predictions"]]
    assert labels == [str(i) for i in expected.argmax(1)]
    assert np.mean([int(label) for label in labels] == y.numpy()) > 0.9  # real accuracy
    first = body["predictions"][0]
    assert len(first["top"]) == 2 and first["probability"] == pytest.approx(expected[0].max(), abs=1e-6)
    # one example without its batch axis, and grey (H, W) without the channel axis
    one = client.post("/predict", json={"inputs": x[0, 0].tolist()}).json()
    assert one["predictions"][0]["label"] == labels[0]


def test_image_files_and_base64_images(digits):
    run, data, client = digits
    idx = [int((data.test.y == d).nonzero()[0, 0]) for d in (3, 7)]
    files = [png(data.test.x[i, 0].numpy(), size=32) for i in idx]
    expected = [str(as_read(run, f).argmax()) for f in files]
    r = client.post("/predict", files=[("file", ("a.png", files[0], "image/png")),
                                       ("file", ("b.png", files[1], "image/png"))])
    assert r.status_code == 200, r.text
    assert [p["label"] for p in r.json()["predictions"]] == expected
    assert r.json()["notes"][0] == ["resized 32x32 to 8x8"]  # NEAREST up, bilinear down: same digit
    b64 = [base64.b64encode(f).decode() for f in files]
    r = client.post("/predict", json={"images": [b64[0], "data:image/png;base64," + b64[1]]})
    assert [p["label"] for p in r.json()["predictions"]] == expected


def test_bad_requests_get_a_4xx_that_says_what_is_wrong(digits):
    _, data, client = digits
    post = client.post
    assert "expects (1, 8, 8)" in error(post("/predict", json={"inputs": [[1, 2, 3]]}), 422)
    assert "numbers" in error(post("/predict", json={"inputs": [["a", "b"]]}), 422)
    assert "numbers" in error(post("/predict", json={"inputs": [[1, 2], [3]]}), 422)  # ragged
    assert "NaN" in error(post("/predict", content=b'{"inputs": [NaN]}',
                               headers={"content-type": "application/json"}), 422)
    assert "did you mean 'inputs'" in error(post("/predict", json={"input": [1]}), 422)
    assert "exactly one" in error(post("/predict", json={}), 422)
    assert "not valid JSON" in error(post("/predict", content=b"{nope",
                                          headers={"content-type": "application/json"}), 400)
    assert "top_k" in error(post("/predict", json={"inputs": data.test.x[:1].tolist(), "top_k": 11}), 422)
    assert "at most 64" in error(post("/predict", json={"inputs": data.test.x[:65].tolist()}), 413)
    assert "200,000" in error(post("/predict", content=b" " * 300_000,
                                   headers={"content-type": "application/json"}), 413)
    assert "not a readable image" in error(post("/predict", files={"file": ("x.png", b"not an image")}), 422)
    assert "not valid base64" in error(post("/predict", json={"images": ["%%%"]}), 422)
    truncated = png(data.test.x[0, 0].numpy(), size=64)[:60]
    assert "image" in error(post("/predict", files={"file": ("t.png", truncated)}), 422)
    big = io.BytesIO()
    Image.new("L", (600, 600)).save(big, format="PNG")  # 360,000 pixels > 512 x 512
    assert "600x600" in error(post("/predict", files={"file": ("big.png", big.getvalue())}), 413)
    assert "not text" in error(post("/predict", json={"texts": ["hello"]}), 422)
    only_field = b'--b\r\nContent-Disposition: form-data; name="top_k"\r\n\r\n3\r\n--b--\r\n'
    assert "no file" in error(post("/predict", content=only_field,
                                   headers={"content-type": "multipart/form-data; boundary=b"}), 422)
    assert "content type" in error(post("/predict", content=b"x", headers={"content-type": "text/plain"}), 415)
    assert "malformed multipart" in error(post("/predict", content=b"--x\r\nbroken",
                                               headers={"content-type": "multipart/form-data"}), 400)
    error(client.get("/nowhere"), 404)
    error(client.get("/predict"), 405)


@pytest.fixture(scope="module")
def text_client(tmp_path_factory):
    from test_export import text_csv

    root = tmp_path_factory.mktemp("serve-text")
    text_csv(root / "t.csv")
    run = gk.train("wordnet-lstm", out=root / "run", verbose=False, overrides=[
        "data.name=text-csv", f"data.path={root / 't.csv'}", "data.tokenizer=word",
        "data.vocab_size=100", "data.max_length=12", "train.epochs=3", "train.batch_size=16",
        "model.embed_dim=16", "model.hidden=16", "optim.lr=0.02", *FAST])
    return run, TestClient(build_app(run.dir, Limits(max_text_chars=100), threads=1))


def test_a_text_classifier_takes_texts_and_refuses_long_ones(text_client):
    run, client = text_client
    texts = ["a dog with the cow", "some bread and cheese"]
    body = client.post("/predict", json={"texts": texts}).json()
    assert [p["label"] for p in body["predictions"]] == [t[0][0] for t in run.classify(texts)]
    assert client.post("/predict", json={"text": texts[0]}).json()["predictions"][0]["label"] == "animal"
    assert "at most 100" in error(client.post("/predict", json={"texts": ["x" * 101]}), 413)
    assert "reads text" in error(client.post("/predict", json={"inputs": [[1, 2]]}), 422)
    assert "list of strings" in error(client.post("/predict", json={"texts": [1, 2]}), 422)
    assert "not images" in error(client.post("/predict", files={"file": ("a.png", b"x")}), 422)


def test_a_regression_model_returns_values_in_target_units(tmp_path):
    run = gk.train("diabetes-linear", out=tmp_path / "run", verbose=False, overrides=["train.epochs=20", *FAST])
    client = TestClient(build_app(run.dir, threads=1))
    x = run.data().test.x[:8]
    body = client.post("/predict", json={"inputs": x.tolist()}).json()
    assert np.allclose(body["predictions"], run.predict(x), rtol=1e-5)
    assert "top_k applies to classifiers" in error(client.post("/predict", json={"inputs": x.tolist(),
                                                                                 "top_k": 1}), 422)
    assert "expects (10,)" in error(client.post("/predict", json={"inputs": [[1.0] * 9]}), 422)
    assert "not images" in error(client.post("/predict", files={"file": ("a.png", b"x")}), 422)
    assert client.get("/metadata").json()["input"]["shape"] == [10]


# ---------------------------------------------------------------- fuzzing the request parser

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402  (dev extra)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=40)
keys = st.sampled_from(["inputs", "images", "texts", "text", "top_k", "invert", "x"])


def answered(response) -> bool:
    """Below 500, and a 4xx is the JSON `{"error", "status"}` with that status (never a 500 or a
    traceback page)."""
    if response.status_code >= 500:
        return False
    if response.status_code < 400:
        return True
    body = response.json()
    return set(body) == {"error", "status"} and body["status"] == response.status_code


@FUZZ
@given(body=st.dictionaries(keys, json_values, max_size=3) | json_values)
def test_fuzz_json_bodies(digits, body):
    response = digits[2].post("/predict", content=json.dumps(body).encode(),
                              headers={"content-type": "application/json"})
    assert answered(response), response.text


@FUZZ
@given(body=st.binary(max_size=2000),
       ctype=st.sampled_from(["application/json", "multipart/form-data; boundary=b",
                              "multipart/form-data", "image/png", "", "text/plain; charset=x"]))
def test_fuzz_raw_bytes(digits, body, ctype):
    response = digits[2].post("/predict", content=body, headers={"content-type": ctype})
    assert answered(response), response.text


@FUZZ
@given(data=st.binary(max_size=400), prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff",
                                                               b"GIF89a", b"BM"]),
       field=st.text(max_size=10), top_k=st.one_of(st.none(), st.text(max_size=5)))
def test_fuzz_image_uploads(digits, data, prefix, field, top_k):
    """Files that start like real formats and then go wrong: Pillow's many error types."""
    form = {} if top_k is None else {"top_k": top_k}
    response = digits[2].post("/predict", data=form, files={field or "file": ("f", prefix + data)})
    assert answered(response), response.text


@FUZZ
@given(shape=st.lists(st.integers(0, 9), max_size=5), value=st.floats(width=32))
def test_fuzz_array_shapes(digits, shape, value):
    body = json.dumps({"inputs": np.full(shape, value).tolist()}).encode()  # NaN, Infinity too
    response = digits[2].post("/predict", content=body, headers={"content-type": "application/json"})
    assert answered(response), response.text


@FUZZ
@given(texts=st.lists(st.text(max_size=120), max_size=5) | json_values)
def test_fuzz_texts(text_client, texts):
    """Any unicode (control characters, surrogates' neighbours, emoji) through the tokenizer."""
    response = text_client[1].post("/predict", content=json.dumps({"texts": texts}).encode(),
                                   headers={"content-type": "application/json"})
    assert answered(response), response.text


# ---------------------------------------------------------------- the real server, the page

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(digits, tmp_path_factory):
    """`gradkit serve` on a bundle, in its own process, on a free loopback port."""
    from gradkit.export import export

    run = digits[0]
    bundle = tmp_path_factory.mktemp("serve-bundle") / "digits"
    export(run.dir, "bundle", bundle)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gradkit", "serve", str(bundle), "--port", str(port),
                             "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"gradkit serve did not start: {proc.stdout.read().decode()[-2000:]}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_the_server_process_answers_over_http(server, digits):
    run, data, _ = digits
    request = urllib.request.Request(server + "/predict", data=json.dumps(
        {"inputs": data.test.x[:5].tolist()}).encode(), headers={"content-type": "application/json"})
    body = json.loads(urllib.request.urlopen(request, timeout=10).read())
    assert [p["label"] for p in body["predictions"]] == [str(i) for i in run.predict(data.test.x[:5]).argmax(1)]
    page = urllib.request.urlopen(server + "/", timeout=10).read().decode()
    assert "<canvas" in page and "http://" not in page and "https://" not in page  # no CDN


CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver "
                    "are not installed (apt-get install chromium chromium-driver; .ci/run does)")
def test_the_page_in_a_headless_browser(server, digits, tmp_path):
    """Upload a real test digit and draw a stroke: the page shows the model's top classes."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    run, data, _ = digits
    index = int((data.test.y == 4).nonzero()[0, 0])
    four = png(data.test.x[index, 0].numpy(), size=64)
    (tmp_path / "four.png").write_bytes(four)
    expected = as_read(run, four)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    try:
        driver.get(server + "/")
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: "digits-cnn" in d.title)  # /metadata answered
        driver.find_element(By.ID, "file").send_keys(str(tmp_path / "four.png"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results li"))
        items = driver.find_elements(By.CSS_SELECTOR, "#results li")
        labels = [li.get_attribute("data-label") for li in items]
        probs = [float(li.get_attribute("data-probability")) for li in items]
        assert len(items) == 5 and labels[0] == str(expected.argmax())
        assert probs[0] == pytest.approx(expected.max(), abs=1e-4) and probs == sorted(probs, reverse=True)
        assert "four.png" in driver.find_element(By.ID, "status").text
        # draw a small vertical bar in the canvas's top-left corner: a new prediction replaces
        # the upload's, and the page frames the ink as the training digits are (centred, scaled
        # to fill the frame), so the bar reads as a 1 wherever it was drawn
        driver.find_element(By.ID, "clear").click()
        canvas = driver.find_element(By.ID, "canvas")
        from selenium.webdriver import ActionChains

        ActionChains(driver).move_to_element_with_offset(canvas, -105, -115).click_and_hold() \
            .move_by_offset(0, 20).move_by_offset(0, 20).move_by_offset(0, 20).release().perform()
        wait.until(lambda d: "drawing.png:" in d.find_element(By.ID, "status").text)
        items = driver.find_elements(By.CSS_SELECTOR, "#results li")
        drawn = [float(li.get_attribute("data-probability")) for li in items]
        assert len(drawn) == 5 and 0 < sum(drawn) <= 1.0001
        labels = [li.get_attribute("data-label") for li in items]
        assert labels[0] == "1" and drawn[0] > 0.9, (labels, drawn)  # unframed, the same bar: 1 at 0.70
        driver.save_screenshot(str(tmp_path / "page.png"))
    finally:
        driver.quit()


def test_a_request_of_too_many_pixels_together_is_refused_before_decoding(digits):
    run = digits[0]
    client = TestClient(build_app(run.dir, Limits(max_image_pixels=100 * 100, max_request_pixels=150 * 100),
                                  threads=1))
    one = png(np.full((8, 8), 8), size=80)  # 6,400 pixels: within each limit alone
    images = [base64.b64encode(one).decode()] * 3
    assert client.post("/predict", json={"images": images[:2]}).status_code == 200
    message = error(client.post("/predict", json={"images": images}), 413)
    assert "19,200 pixels together" in message and "--max-request-pixels" in message
    files = [("file", (f"{i}.png", one, "image/png")) for i in range(3)]
    assert "--max-request-pixels" in error(client.post("/predict", files=files), 413)


@pytest.mark.parametrize("how", ["json", "multipart"])
def test_health_answers_while_a_heavy_request_decodes(digits, monkeypatch, how):
    """Images are decoded off the event loop: a request whose decoding takes seconds (here each
    image's decode is made to take 0.8 s) does not hold up /health or other clients."""
    import threading

    import uvicorn

    from gradkit.serve import parse

    real = parse._decode

    def slow(*args, **kwargs):
        time.sleep(0.8)
        return real(*args, **kwargs)

    monkeypatch.setattr(parse, "_decode", slow)
    server = uvicorn.Server(uvicorn.Config(build_app(digits[0].dir, threads=1), host="127.0.0.1",
                                           port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{server.config.port}"
    one = png(np.full((8, 8), 8), size=64)
    if how == "json":
        request = urllib.request.Request(url + "/predict", data=json.dumps(
            {"images": [base64.b64encode(one).decode()] * 3}).encode(),
            headers={"content-type": "application/json"})
    else:
        boundary = "gradkitboundary"
        body = b"".join(b"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%d.png\"\r\n"
                        b"Content-Type: image/png\r\n\r\n%s\r\n" % (boundary.encode(), i, one)
                        for i in range(3)) + b"--%s--\r\n" % boundary.encode()
        request = urllib.request.Request(url + "/predict", data=body, headers={
            "content-type": f"multipart/form-data; boundary={boundary}"})
    answers = []
    try:
        heavy = threading.Thread(target=lambda: answers.append(json.loads(
            urllib.request.urlopen(request, timeout=60).read())))
        start = time.perf_counter()
        heavy.start()
        time.sleep(0.3)  # the heavy request is decoding now
        probe = time.perf_counter()
        assert json.loads(urllib.request.urlopen(url + "/health", timeout=10).read())["status"] == "ok"
        waited = time.perf_counter() - probe
        heavy.join()
        took = time.perf_counter() - start
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert len(answers[0]["predictions"]) == 3 and took >= 2.4
    assert waited < 0.5, f"/health waited {waited:.2f} s behind a {took:.1f} s request"


def test_batching_merges_concurrent_requests_and_gives_each_its_own_rows():
    """gradkit.serve.batching: requests that arrive while the model runs go to it together; each
    gets exactly the rows predict gives for its own inputs; a failing request fails alone; an
    input that cannot be merged (a list of texts) runs by itself."""
    import asyncio
    import threading

    from gradkit.serve.batching import Batcher, Batching

    sizes, lock = [], threading.Lock()

    def predict(x):
        if isinstance(x, np.ndarray) and (x < 0).any():
            raise ValueError("negative input")
        time.sleep(0.05)  # a model call long enough for the others to queue
        with lock:
            sizes.append(len(x))
        return np.asarray(x, dtype=float) * 2 if isinstance(x, np.ndarray) else np.zeros((len(x), 1))

    async def scenario(batching):
        batcher = Batcher(predict, batching)
        inputs = [np.full((1 + i % 3, 4), float(i)) for i in range(12)]
        inputs[5] = -inputs[5] - 1  # this request fails
        results = await asyncio.gather(*(batcher(x) for x in inputs), batcher(["a text"]),
                                       return_exceptions=True)
        return inputs, results, batcher.calls

    inputs, results, calls = asyncio.run(scenario(Batching(max_examples=8)))
    assert isinstance(results[5], ValueError) and "negative" in str(results[5])
    for i, (x, out) in enumerate(zip(inputs, results[:12])):
        if i != 5:
            np.testing.assert_array_equal(out, x * 2)
    assert results[12].shape == (1, 1)
    assert max(sizes) <= 8 and max(sizes) > 3, sizes  # merged, within the cap
    sizes.clear()
    inputs, results, calls_off = asyncio.run(scenario(Batching(max_examples=1)))
    assert sorted(sizes) == sorted([len(x) for i, x in enumerate(inputs) if i != 5] + [1])  # one by one
    assert calls_off == 13 and calls < calls_off


def test_served_answers_are_the_same_with_and_without_batching(digits):
    """Concurrent clients against the app with batching on get the same probabilities as with
    batching off (and as run.predict), for their own digits."""
    from concurrent.futures import ThreadPoolExecutor

    from gradkit.serve import Batching

    run, data, _ = digits
    x = data.test.x[:24].numpy()
    answers = {}
    for mode, batching in (("on", Batching(16)), ("off", Batching(1))):
        client = TestClient(build_app(run.dir, threads=1, batching=batching))
        with client, ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda i: client.post("/predict", json={"inputs": x[i:i + 1].tolist(),
                                                                            "top_k": 10}).json(), range(24)))
        assert client.get("/metadata").json()["batching"]["max_examples"] == batching.max_examples
        answers[mode] = [{p["index"]: p["probability"] for p in r["predictions"][0]["top"]} for r in replies]
    want = run.predict(x)
    for mode in answers:
        for i, got in enumerate(answers[mode]):
            np.testing.assert_allclose([got[j] for j in range(10)], want[i], rtol=1e-5, atol=1e-6)
