"""Every kind of run gets a report that tells the truth about it: one finished run of each kind
(small budgets, real data), rendered and read back as HTML. A completed run's report has no
section that says it has nothing to show, no summary field whose value is a default the run did
not use, every figure embedded; its config.yaml holds the sections the run read. The RL and
federated reports also load in a headless chromium with no console errors and figures of
non-zero size.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

import gradkit as gk
from conftest import english_text
from gradkit.errors import ConfigError

QUIET = ["output.explain=false"]
# the sentences a report writes when a section has nothing to show (gradkit/report/*.py)
NOTHING = re.compile(r"No [^<]{0,80}?(recorded|missing|incomplete|unreadable|plottable|did not reach|"
                     r"could not be read|no curves)|metrics\.jsonl has no")
SUPERVISED_ROWS = ("<td>Data set</td>", "<td>Batch size</td>", "<td>Optimizer</td>",
                   "<td>Epochs completed / configured</td>", "<td>Model</td>")
RL_ROWS = ("<td>Environment</td>", "<td>Algorithm</td>", "<td>Network</td>", "<td>Vector env</td>",
           "<td>Solved</td>", "<td>Against random</td>", "<td>Environment steps</td>",
           "<td>Where the time went</td>")
RL_SMALL = {
    "cartpole-ppo": ["rl.total_steps=2048", "rl.eval_every=1024", "rl.eval_episodes=3"],
    "cartpole-dqn": ["rl.total_steps=3000", "rl.learning_starts=500", "rl.eval_every=1500",
                     "rl.eval_episodes=3"],
    "pendulum-ppo": ["rl.total_steps=2048", "rl.eval_every=1024", "rl.eval_episodes=2"],
}


def _text_file(root: Path) -> Path:
    path = root / "readme.txt"
    path.write_text(english_text()[:12000], encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """kind -> the run directory of one finished run of that kind."""
    root = tmp_path_factory.mktemp("kinds")
    recipes = {
        "classification": ("digits-mlp", ["train.epochs=2"]),
        "regression": ("diabetes-linear", ["train.epochs=5", *QUIET]),
        "forecast": ("sunspots-lstm", ["train.epochs=2", *QUIET]),
        "language-model": ("charlm-lstm", ["data.name=text-file", f"data.path={_text_file(root)}",
                                           "data.max_length=32", "model.hidden=32", "model.embed_dim=16",
                                           "train.epochs=1", "train.batch_size=32"]),
        **{name: (name, over) for name, over in RL_SMALL.items()},
    }
    if (Path("/usr/share/datasets/fashion-mnist") / "train-images-idx3-ubyte.gz").is_file():
        recipes["generative"] = ("fashion-vae", ["train.epochs=1", "data.limit=1000", *QUIET])
    out = {}
    for kind, (recipe, over) in recipes.items():
        out[kind] = gk.train(recipe, out=root / kind, verbose=False, overrides=over).dir
    return out


def _section(html: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', html, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


def _check_common(html: str, where: str) -> None:
    nothing = NOTHING.search(html)
    assert nothing is None, f"{where}: a section with nothing to show: {nothing.group(0)!r}"
    images = re.findall(r'<img src="([^"]{0,30})', html)
    assert images and all(src.startswith("data:image/") for src in images), where
    assert html.count("<h3>Final metrics</h3>") == 1, f"{where}: the final metrics once"


@pytest.mark.parametrize("kind", ["classification", "regression", "forecast", "language-model",
                                  "generative"])
def test_a_supervised_report_reads_as_its_kind(runs, kind):
    if kind not in runs:
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    run_dir = runs[kind]
    html = (run_dir / "report.html").read_text()
    _check_common(html, kind)
    summary = _section(html, "summary")
    assert "<td>Data set</td>" in summary and "<td>Model</td>" in summary
    assert not any(row in summary for row in RL_ROWS if row != "<td>Environment</td>")
    assert '<div class="cards">' in html  # the test metrics against the baselines
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert "rl" not in config and {"data", "model", "train", "optim"} <= set(config)
    assert not {"variants", "seeds", "lesson", "federated"} & set(config)  # nothing left empty


@pytest.mark.parametrize("recipe", list(RL_SMALL))
def test_an_rl_report_reads_as_an_agent(runs, recipe):
    run_dir = runs[recipe]
    html = (run_dir / "report.html").read_text()
    _check_common(html, recipe)
    summary = _section(html, "summary")
    assert all(row in summary for row in RL_ROWS), recipe
    assert not any(row in summary for row in SUPERVISED_ROWS), recipe
    assert "<td>Replay</td>" in summary if "dqn" in recipe else "<td>Rollout</td>" in summary
    assert re.search(r"env steps and storage \d+% · ", summary) and "updates " in summary
    assert "time/env" not in summary  # the phases are in the summary row, not the finals table
    info = json.loads((run_dir / "run.json").read_text())  # the run's own phases (issue 24)
    assert {"setup: environment", "baselines", "training", "episode GIF", "report"} <= set(info["phases"])
    assert info["phases"]["training"] >= info["train_seconds"]
    assert "No final test metrics" not in html and '<div class="cards">' in _section_header(html)
    assert "best evaluation mean return" in html and "random policy" in html
    curves = _section(html, "curves")
    assert curves.count("data:image/png") >= 3  # evaluation, training episodes, losses
    assert "one panel each" in curves
    assert '<section id="rl">' not in html  # the curves are not repeated under a second heading
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert set(config) == {"name", "description", "reproduces", "reaches", "seed", "output", "rl"}
    assert _section(html, "config").count("rl:") == 1 and "\ndata:" not in _section(html, "config")
    # the file reloads to the config the run used
    from gradkit import engine

    assert engine.load_file(run_dir / "config.yaml").rl == config["rl"]


def _section_header(html: str) -> str:
    return html.split("</header>", 1)[0]


def test_an_rl_report_says_whether_and_against_what_it_solved(runs):
    html = (runs["cartpole-dqn"] / "report.html").read_text()  # 3,000 steps: far from 475
    assert re.search(r"<td>Solved</td><td>no: best evaluation mean [\d.,]+ against the threshold 475",
                     _section(html, "summary"))
    assert 'data-code="not_solved"' in html or 'data-code="no_better_than_random"' in html
    html = (runs["pendulum-ppo"] / "report.html").read_text()  # Pendulum-v1 has no threshold
    summary = _section(html, "summary")
    assert "<td>Solved</td><td>no threshold" in summary and "continuous action" in summary
    assert "<td>Network</td><td>MLP, hidden layers 64 × 64; separate actor and critic networks" in summary


def test_an_rl_config_refuses_supervised_sections(tmp_path):
    with pytest.raises(ConfigError, match=r"does not read train:.*rl\.\* keys"):
        gk.train("cartpole-ppo", out=tmp_path / "r", verbose=False, overrides=["train.epochs=3"])
    with pytest.raises(ConfigError, match=r"does not read data:, model:"):
        gk.train("cartpole-dqn", out=tmp_path / "r", verbose=False,
                 overrides=["data.name=iris", "model.hidden=[8]"])
    assert not (tmp_path / "r").exists()


def test_runs_lists_and_compares_rl_and_supervised_runs(runs):
    from gradkit.listing import compare_runs, list_runs

    rows = {Path(r["run"]).name: r for r in list_runs(runs["cartpole-ppo"].parent)}
    ppo, clf = rows["cartpole-ppo"], rows["classification"]
    assert ppo["epochs"].endswith(" steps") and float(ppo["eval/best_mean_return"]) > 0
    assert clf["epochs"] == "2" and clf["eval/best_mean_return"] == "" and float(clf["test/accuracy"]) > 0.5
    names, diff, metrics = compare_runs([runs["classification"], runs["cartpole-ppo"]])
    keys = dict(diff)
    assert keys["rl.algo"] == ["", "ppo"] and keys["data.name"] == ["digits", ""]
    assert dict(metrics)["eval/best_mean_return"][0] in ("", "–", "-")


@pytest.mark.parametrize("kind", ["variants", "seeds"])
def test_a_parent_report_reads_as_a_comparison(tmp_path, kind):
    """A recipe with variants, and one trained over seeds: the parent's comparison report."""
    if kind == "variants":
        gk.train("adding-rnn-vs-lstm", out=tmp_path / "p", verbose=False, data={"length": 8, "samples": 300},
                 model={"hidden": 8}, train={"epochs": 2})
    else:
        gk.train("digits-mlp", out=tmp_path / "p", verbose=False, seeds=2, train={"epochs": 2}, output={"explain": False})
    html = (tmp_path / "p" / "report.html").read_text()
    nothing = NOTHING.search(html)
    assert nothing is None, nothing.group(0)
    images = re.findall(r'<img src="([^"]{0,30})', html)
    assert images and all(src.startswith("data:image/") for src in images)


FLOWER = importlib.util.find_spec("flwr") is not None and importlib.util.find_spec("ray") is not None


@pytest.fixture(scope="module")
def federated(tmp_path_factory):
    """A finished federated-fashion-mlp-iid run (3 clients, 2 rounds), or a skip saying why not."""
    if not FLOWER:
        pytest.skip("the federated extra is not installed: pip install 'gradkit[federated]'")
    if not (Path("/usr/share/datasets/fashion-mnist") / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    return gk.train("federated-fashion-mlp-iid", out=tmp_path_factory.mktemp("fed") / "fed", verbose=False,
                    overrides=["data.limit=3000", "federated.clients=3", "federated.rounds=2",
                               "federated.client_cpus=2", *QUIET])


@pytest.mark.slow  # a Flower simulation: Ray starts
def test_a_federated_report_reads_as_a_federation(federated):
    run = federated
    html = (run.dir / "report.html").read_text()
    _check_common(html, "federated")
    summary = _section(html, "summary")
    assert "<td>Rounds completed / configured</td><td>2 / 2</td>" in summary
    assert "<td>Epochs completed" not in summary and not any(row in summary for row in RL_ROWS[1:])
    assert '<section id="federated">' in html and "centralised" in _section(html, "federated")
    config = yaml.safe_load((run.dir / "config.yaml").read_text())
    assert "rl" not in config and config["federated"]["clients"] == 3


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver "
                    "are not installed (apt-get install chromium chromium-driver; .ci/run does)")
@pytest.mark.parametrize("kind", ["cartpole-ppo", "cartpole-dqn", "federated"])
def test_the_report_in_a_headless_browser(request, kind, tmp_path):
    """The page loads from file:// with no console errors; every figure decodes to a non-zero size."""
    run_dir = (request.getfixturevalue("federated").dir if kind == "federated"
               else request.getfixturevalue("runs")[kind])
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    try:
        driver.get((run_dir / "report.html").as_uri())
        assert "gradkit report" in driver.title
        sizes = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, "
            "i.naturalHeight, i.getBoundingClientRect().width])")
        assert sizes and all(done and w > 0 and h > 0 and shown > 0 for done, w, h, shown in sizes), sizes
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        assert driver.save_screenshot(str(tmp_path / f"{kind}.png"))
        assert (tmp_path / f"{kind}.png").stat().st_size > 10_000
    finally:
        driver.quit()
