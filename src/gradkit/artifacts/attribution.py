"""Attribution methods by name, through Captum, for images, table rows and texts.

    integrated-gradients  IntegratedGradients (Sundararajan et al. 2017): the path integral of
                          the gradient from a baseline to the input; texts: LayerIntegratedGradients
                          on the token embedding (token ids are not differentiable)
    saliency              Saliency (Simonyan et al. 2014): |d logit / d input|; texts: the L2 norm of
                          the gradient at each token's embedding
    occlusion             Occlusion (Zeiler & Fergus 2014): how much the logit drops when a patch
                          (images), one feature (rows) or one token (texts, replaced by [UNK]) is
                          set to the baseline
    gradcam               LayerGradCam (Selvaraju et al. 2017) on the model's last nn.Conv2d,
                          upsampled to the image: convolutional image models only
    shap                  GradientShap (Lundberg & Lee 2017; expected gradients): SHAP values
                          estimated from gradients at random points between the input and random
                          training examples. KernelShap is not used: it fits a weighted linear model
                          to thousands of forward passes per example (784 pixels of Fashion-MNIST)

Every method explains the logit of one target class (the predicted one) of a model in eval
mode. Baselines: images, a black image (raw value 0, the background of MNIST-like sets); rows,
the training mean (0 once standardised); texts, the [PAD] embedding at every token, with the
padding mask of the real text (so masked models see the same positions).
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from gradkit.data import DataSpec, normalize
from gradkit.errors import ConfigError, GradkitError, did_you_mean

METHODS = ("integrated-gradients", "saliency", "occlusion", "gradcam", "shap")
KINDS = ("image", "tabular", "text")  # the data a classifier can be explained on

# Captum's class for each method and kind of data (rows: no gradcam, which needs images)
CAPTUM = {"image": {"integrated-gradients": "IntegratedGradients", "saliency": "Saliency",
                    "occlusion": "Occlusion", "gradcam": "LayerGradCam", "shap": "GradientShap"},
          "text": {"integrated-gradients": "LayerIntegratedGradients",
                   "saliency": "LayerGradientXActivation", "occlusion": "Occlusion",
                   "shap": "LayerGradientShap"}}
CAPTUM["tabular"] = {k: v for k, v in CAPTUM["image"].items() if k != "gradcam"}


def check_name(method: str) -> None:
    """Raise a ConfigError with a did-you-mean when `method` is not one of METHODS."""
    if method not in METHODS:
        raise ConfigError(f"unknown explanation method '{method}'{did_you_mean(method, METHODS)}; "
                          f"choose one of: {', '.join(METHODS)}")


def require_captum() -> None:
    """Raise a GradkitError that says how to install Captum when it is missing."""
    try:
        import captum.attr  # noqa: F401
    except ImportError:
        raise GradkitError("explanations need Captum, which is not installed: "
                           "pip install 'gradkit[explain]' (or pip install 'captum>=0.7')") from None


@dataclass
class Attribution:
    """What one method says about a batch of E examples."""

    values: torch.Tensor  # (E, *input_shape) for images and rows; (E, L) per token for texts
    signed: bool  # False: magnitudes only (saliency, gradcam)
    captum: str  # the Captum class that computed it
    baseline: str  # what "absent" meant, in words
    delta: torch.Tensor | None = None  # (E,) integrated gradients: sum(values) - (f(x) - f(baseline))


def check_method(method: str, model: nn.Module, spec: DataSpec) -> None:
    """Raise a clear error when `method` is unknown or does not fit this model and data."""
    check_name(method)
    fits = [m for m in METHODS if m in CAPTUM[spec.kind] and (m != "gradcam" or last_conv(model))]
    if method not in fits:
        why = ("it needs a convolutional layer (nn.Conv2d), and this model "
               f"({type(model).__name__}) has none" if spec.kind == "image" else
               f"it needs a convolutional layer over images, and this run's data is {spec.kind}")
        raise GradkitError(f"{method} does not fit this run: {why}; use one of: "
                           f"{', '.join(fits)}")


def last_conv(model: nn.Module) -> nn.Conv2d | None:
    """The model's last nn.Conv2d in registration order (the one nearest the head), or None."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


def attribute(model: nn.Module, x: torch.Tensor, target: torch.Tensor, method: str, spec: DataSpec,
              *, steps: int = 32, background: torch.Tensor | None = None) -> Attribution:
    """Attributions of `model`'s logit for class `target` (E,) at inputs `x`.

    `x` is what the model reads: normalised images (E, C, H, W) or rows (E, F), token ids
    (E, L) for texts; `background` (B, ...) likewise, training examples for `shap`. `steps` is
    the number of integration steps (integrated-gradients) or of samples (shap).

    >>> a = attribute(run.model, normalize(x, run.spec), pred, "integrated-gradients", run.spec)
    >>> a.values.shape, a.delta.abs().max()   # doctest: +SKIP
    (torch.Size([8, 1, 8, 8]), tensor(0.0031))
    """
    check_method(method, model, spec)
    if method == "shap" and background is None:
        raise ValueError("shap needs `background`: training examples for its baselines")
    model.eval()
    # cuDNN's RNN refuses backward in eval mode; a frozen BERT encoder turns autograd off
    with torch.backends.cudnn.flags(enabled=False), _gradients_through(model), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Input Tensor .* did not already require gradients")
        if spec.kind == "text":
            return _text(model, x, target, method, spec, steps, background)
        return _dense(model, x, target, method, spec, steps, background)


def baseline_for(x: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    """The model-space input that means "nothing here": see the module docstring."""
    if spec.kind == "image":
        return normalize(torch.zeros(x.shape, device=x.device), spec)
    return torch.zeros_like(x)


def _dense(model, x, target, method, spec, steps, background) -> Attribution:
    import captum.attr as ca

    base = baseline_for(x, spec)
    words = ("a black image (raw value 0)" if spec.kind == "image"
             else "the training mean of every feature")
    if method == "integrated-gradients":
        values, delta = ca.IntegratedGradients(model).attribute(
            x, baselines=base, target=target, n_steps=steps, return_convergence_delta=True)
        return Attribution(values.detach(), True, "IntegratedGradients", words, delta.detach())
    if method == "saliency":
        values = ca.Saliency(model).attribute(x, target=target, abs=True)
        return Attribution(values.detach(), False, "Saliency", "none (a gradient)")
    if method == "occlusion":
        window, stride = occlusion_window(spec)
        values = ca.Occlusion(model).attribute(x, sliding_window_shapes=window, strides=stride,
                                               baselines=base, target=target)
        what = f"{window[1]}x{window[2]} patches, stride {stride[1]}" if len(window) == 3 else "one feature"
        return Attribution(values.detach(), True, "Occlusion", f"{words}; {what} at a time")
    if method == "gradcam":
        cam = ca.LayerGradCam(model, last_conv(model)).attribute(x, target=target,
                                                                 relu_attributions=True)
        values = ca.LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")
        return Attribution(values.detach(), False, "LayerGradCam", "none (the last conv layer)")
    values = ca.GradientShap(model).attribute(x, baselines=background, n_samples=steps,
                                              stdevs=0.0, target=target)
    return Attribution(values.detach(), True, "GradientShap",
                       f"{len(background)} random training examples")


def occlusion_window(spec: DataSpec) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(window, stride): about 1/7 of an image's side (2 px on 8x8 digits, 4 on 28x28) with
    half-overlapping steps; one feature of a row."""
    if spec.kind != "image":
        return (1,), (1,)
    c, h, w = spec.input_shape
    side = max(2, round(min(h, w) / 7))
    step = max(1, side // 2)
    return (c, side, side), (c, step, step)


def embedding_layer(model: nn.Module, spec: DataSpec) -> nn.Embedding:
    """The token embedding: the first nn.Embedding as wide as the vocabulary."""
    for module in model.modules():
        if isinstance(module, nn.Embedding) and module.num_embeddings == spec.vocab_size:
            return module
    raise GradkitError(f"{type(model).__name__} has no token embedding of {spec.vocab_size} "
                       "entries to attribute to; text explanations need one")


def _text(model, ids, target, method, spec, steps, background) -> Attribution:
    import captum.attr as ca

    layer = embedding_layer(model, spec)
    pad = torch.zeros_like(ids)  # [PAD] is id 0 in every gradkit vocabulary
    words = "[PAD] at every token, the text's padding mask kept"
    if method == "integrated-gradients":
        values = ca.LayerIntegratedGradients(model, layer).attribute(
            ids, baselines=pad, target=target, n_steps=steps)  # (E, L, D)
        scores = values.sum(-1).detach()
        delta = scores.sum(1) - (_logit(model, ids, target) - _logit(model, ids, target, layer))
        return Attribution(scores, True, "LayerIntegratedGradients", words, delta.detach())
    if method == "saliency":
        grads = ca.LayerGradientXActivation(model, layer, multiply_by_inputs=False).attribute(
            ids, target=target)
        return Attribution(grads.norm(dim=-1).detach(), False, "LayerGradientXActivation",
                           "none (the gradient at each token's embedding)")
    if method == "occlusion":
        values = ca.Occlusion(model).attribute(ids, sliding_window_shapes=(1,),
                                               baselines=unk_id(spec), target=target)
        return Attribution(values.detach(), True, "Occlusion", "the token replaced by [UNK]")
    # GradientShap adds (zero, stdevs=0) noise to the inputs, which makes the ids floats
    values = ca.LayerGradientShap(lambda t: model(t.long()), layer).attribute(ids, baselines=background,
                                                          n_samples=steps, stdevs=0.0, target=target)
    return Attribution(values.sum(-1).detach(), True, "LayerGradientShap",
                       f"the embeddings of {len(background)} random training texts")


@torch.no_grad()
def _logit(model, ids, target, layer: nn.Module | None = None) -> torch.Tensor:
    """The target logit; with `layer`, of the baseline: that layer's output replaced by its
    [PAD] output at every position, while the model still reads the real ids (the mask)."""
    hook = None
    if layer is not None:
        hook = layer.register_forward_hook(lambda mod, args, out: mod.weight[0].expand_as(out))
    try:
        return model(ids).float().gather(1, target[:, None])[:, 0]
    finally:
        if hook is not None:
            hook.remove()


def unk_id(spec: DataSpec) -> int:
    """[UNK]'s id in the run's vocabulary (1 in the ones gradkit trains), else [PAD]'s (0)."""
    from gradkit.data.text import load_tokenizer

    found = load_tokenizer(spec.tokenizer).token_to_id("[UNK]") if spec.tokenizer else None
    return int(found) if found is not None else 0


@contextmanager
def _gradients_through(model: nn.Module) -> Iterator[None]:
    """Let gradients reach a frozen pretrained encoder (BertClassifier.frozen) for a while."""
    frozen = getattr(model, "frozen", False)
    if frozen:
        model.frozen = False
    try:
        yield
    finally:
        if frozen:
            model.frozen = True
