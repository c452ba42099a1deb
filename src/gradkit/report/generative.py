"""HTML for generative runs (tasks reconstruct, vae, gan): sample grids per epoch, final
samples, reconstructions, the latent space by class, an interpolation, and loss curves.

Reads artifacts/epochs/samples-EEEE.png, artifacts/samples.npz and, with `task.fid`,
artifacts/quality.json (`gradkit.artifacts.images`).
"""
from __future__ import annotations

import json

import numpy as np

from gradkit.report.images import grid
from gradkit.report import plots
from gradkit.report.rundir import RunData
from gradkit.report.sections import esc, figure, note, results, section, table

MAX_EPOCH_GRIDS = 10
CURVES = {"gan": ("GAN losses", ["d_loss", "g_loss"], "D(x) and D(G(z))", ["d_real", "d_fake"]),
          "vae": ("negative ELBO (nats per image)", ["nelbo"], "reconstruction and KL (nats)", ["rec", "kl"])}
TITLES = {"reconstruct": "Reconstruction results", "vae": "VAE results", "gan": "GAN results"}
INTERPOLATED = {"gan": "two noise vectors"}  # else: the codes of two test images
NOTES = {
    "gan": ("d_real and d_fake are the discriminator's mean probability that real and generated "
            "images are real; neither loss measures sample quality, so look at the samples. The "
            "final model is the last epoch's."),
    "vae": ("nelbo = rec + kl, in nats per image (lower is better); rec is -log p(x|z) for one z per "
            "image. Bernoulli likelihood: inputs binarised, afresh each training batch and with "
            "one fixed seeded draw for val/test."),
    "vae/gaussian": ("nelbo = rec + kl in nats per image, with a Gaussian likelihood on [0, 1] "
                     "pixels (a density: not comparable with Bernoulli figures)."),
    "reconstruct": ("mse is per pixel with pixels in [0, 1]; the predict-the-mean baseline "
                    "reconstructs every test image as the mean training image."),
}


@results("reconstruct", "vae", "gan")
def generative(run: RunData) -> str:
    s = run.samples or {}
    parts = [_explain(run), _quality(run), _curves(run), _epoch_strip(run)]
    if s.get("samples") is not None:
        parts.append("<h3>Samples (final model, fixed seed)</h3>"
                     + _image(grid(s["samples"], 8), "64 samples"))
    if s.get("recon") is not None:
        rows = [s["x"], s["recon"]]
        caption = "top: test images; bottom: reconstructions"
        if s.get("x_input") is not None and not np.array_equal(s["x_input"], s["x"]):
            rows.insert(1, s["x_input"])
            caption = "top: test images; middle: noisy inputs; bottom: reconstructions"
        parts.append("<h3>Reconstructions (test)</h3>"
                     + _image(grid(np.concatenate(rows), len(s["x"])), caption))
    if s.get("latent_2d") is not None:
        parts.append("<h3>Latent space (test)</h3>" + _scatter(run, s))
    if s.get("interp") is not None:
        what = INTERPOLATED.get(run.task, "the codes of two test images")
        parts.append("<h3>Interpolation</h3>"
                     + _image(grid(s["interp"], len(s["interp"])), f"decoded along a line between {what}"))
    if not s:
        parts.append(note("No final images: artifacts/samples.npz is missing or unreadable."))
    return section("generative", TITLES.get(run.task, "Results"), "\n".join(parts))


def _explain(run: RunData) -> str:
    likelihood = run.setting("model", "likelihood") or "bernoulli"
    return note(NOTES.get(f"{run.task}/{likelihood}", NOTES.get(run.task, NOTES["reconstruct"])))


def _image(image: np.ndarray, caption: str, scale: int = 2) -> str:
    big = image.repeat(scale, axis=1).repeat(scale, axis=2)  # small images: nearest-neighbour zoom
    return figure(plots.image_uri(big), caption)


def _epoch_strip(run: RunData) -> str:
    folder = run.run_dir / "artifacts" / "epochs"
    paths = sorted(folder.glob("samples-*.png")) if folder.is_dir() else []
    if not paths:
        return ""
    keep = np.unique(np.linspace(0, len(paths) - 1, min(MAX_EPOCH_GRIDS, len(paths))).round().astype(int))
    cells = [figure(plots.png_uri(paths[i].read_bytes()), f"epoch {int(paths[i].stem.split('-')[1])}")
             for i in keep]
    return ("<h3>Samples per epoch (the same 64 noise vectors)</h3>"
            + '<div class="grid epochs">' + "".join(cells) + "</div>")


def _curves(run: RunData) -> str:
    spec = CURVES.get(run.task)
    if spec is None or not run.epochs:
        return ""
    figs = []
    for title, names in (spec[:2], spec[2:]):
        fig = plots._figure()
        ax = fig.subplots()
        for name in names:
            for split, style in (("train", "o-"), ("val", "s--")):
                x, y = run.series(f"{split}/{name}")
                if len(x):
                    ax.plot(x, y, style, ms=3, lw=1.5, label=f"{split}/{name}")
        ax.set(xlabel="epoch", title=title)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        figs.append(figure(plots.figure_uri(fig), title))
    return '<div class="grid">' + "".join(figs) + "</div>"


def _scatter(run: RunData, s: dict) -> str:
    z, y = np.asarray(s["latent_2d"], dtype=float), np.asarray(s["latent_y"]).astype(int)
    names = run.class_names(int(y.max()) + 1 if len(y) else 0)
    fig = plots._figure((6.0, 4.5))
    ax = fig.subplots()
    for k, name in enumerate(names):
        mask = y == k
        ax.scatter(z[mask, 0], z[mask, 1], s=4, alpha=0.6, label=name, color=f"C{k % 10}")
    dim = np.asarray(s["latent"]).shape[1]
    how = "the 2-D codes" if dim <= 2 else f"first two principal components of the {dim}-D codes"
    ax.set(title=f"{len(y)} test images: {how}")
    ax.legend(fontsize=7, markerscale=3, loc="best")
    return figure(plots.figure_uri(fig), "latent codes coloured by class") + note(
        "Colours are the data set's labels, which the model never saw.")


def _quality(run: RunData) -> str:
    """FID beside its real-vs-real floor, the classifier that scored it, and the class histogram."""
    path = run.run_dir / "artifacts" / "quality.json"
    if not path.is_file():
        return ""
    try:
        q = json.loads(path.read_text(encoding="utf-8"))
        hist, real = q["class_histogram"], q["real_class_histogram"]
        rows = [["FID of generated vs real test images", f"{float(q['fid']):.2f}"],
                ["FID of real train vs real test images (the floor)", f"{float(q['fid_floor']):.2f}"],
                ["images on each side", f"{int(q['n']):,}"],
                ["classes covered by the samples", f"{hist['classes_covered']} of {len(hist['counts'])}"],
                ["entropy of the samples' classes (bits)",
                 f"{hist['entropy_bits']:.2f} of {hist['max_entropy_bits']:.2f}"]]
        clf = (f"Features: the penultimate layer of the gradkit classifier run "
               f"<code>{esc(q['classifier_run'])}</code> (test accuracy "
               f"{float(q['classifier_accuracy']):.4f}), not Inception: compare FIDs only between "
               "runs scored by the same classifier with the same number of images.")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return note(f"artifacts/quality.json could not be read ({type(exc).__name__}); "
                    "the FID figures are in metrics.json")
    fig = plots._figure((6.0, 3.2))
    ax = fig.subplots()
    names = list(hist["class_names"])
    at = np.arange(len(names))
    for offset, h, label in ((-0.2, hist, "generated"), (0.2, real, "real test")):
        share = np.asarray(h["counts"], dtype=float) / max(sum(h["counts"]), 1)
        ax.bar(at + offset, share, width=0.4, label=label)
    ax.set_xticks(at, names, rotation=45, ha="right", fontsize=7)
    ax.set(ylabel="share of images", title="classes the classifier sees in the images")
    ax.legend(fontsize=8)
    return ("<h3>Sample quality (FID)</h3>" + table(rows) + "<p>" + clf + "</p>"
            + figure(plots.figure_uri(fig), "class histogram: mode collapse shows as missing bars"))
