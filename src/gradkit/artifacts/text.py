"""A language model's text: continuing a prompt character by character, and the report's
`artifacts/samples.npz` (continuations of prompts taken from the test text). `gk.generate` and
`gradkit sample` (gradkit/sampling.py) use the same sampler.

Each new character is drawn from the model's distribution at the last position, given at
most the last `data.max_length` characters: the context it was trained on. Temperature
divides the logits (0 means greedy: always the most likely character); top-k keeps only the
k most likely characters. [PAD] and [UNK] are never drawn: they are not characters.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradkit.rundir import save_npz

UNK_SHOWN = "\ufffd"  # how an [UNK] id prints


def encode_prompt(prompt: str, chars: list[str]) -> tuple[list[int], list[str]]:
    """Prompt -> ids, and the characters the vocabulary lacks (read as [UNK], id 1)."""
    index = {c: i for i, c in enumerate(chars) if i >= 2}
    ids = [index.get(c, 1) for c in prompt]
    return ids, sorted({c for c, i in zip(prompt, ids) if i == 1})


def decode(ids: list[int], chars: list[str]) -> str:
    return "".join(chars[i] if i >= 2 else UNK_SHOWN for i in ids)


@torch.inference_mode()
def continue_ids(model: torch.nn.Module, ids: list[int], tokens: int, context: int,
                 temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> list[int]:
    """`tokens` new ids after `ids`, each from the model's next-token logits at the last position."""
    model.eval()
    device = next(model.parameters()).device
    threads = torch.get_num_threads()
    if device.type == "cpu":  # batch-1 steps: thread hand-offs cost more than the arithmetic
        torch.set_num_threads(1)  # (30x faster on a busy 2-core machine)
    try:
        return _continue(model, ids, tokens, context, temperature, top_k, generator, device)
    finally:
        torch.set_num_threads(threads)


def _continue(model, ids, tokens, context, temperature, top_k, generator, device) -> list[int]:
    out = list(ids)
    for _ in range(tokens):
        x = torch.tensor([out[-context:]], device=device)  # (1, <= context)
        logits = model(x)[0, -1].float().cpu()  # (V,)
        logits[:2] = float("-inf")  # never [PAD] or [UNK]
        if temperature == 0:
            out.append(int(logits.argmax()))
            continue
        logits = logits / temperature
        if top_k is not None and top_k < len(logits):
            kth = logits.topk(top_k).values[-1]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        out.append(int(torch.multinomial(logits.softmax(-1), 1, generator=generator)))
    return out[len(ids):]


def held_out_prompts(text: str, n: int = 3, length: int = 24, tokens: int = 200) -> list[tuple[str, str]]:
    """(prompt, true continuation) pairs: the first words of lines spread through `text`."""
    pairs = []
    for k in range(n):
        start = len(text) * k // n
        newline = text.find("\n", start, start + 1000)
        start = newline + 1 if newline >= 0 else start
        prompt = text[start:start + length]
        if " " in prompt[1:]:  # end the prompt on a word boundary
            prompt = prompt[:prompt.rindex(" ") + 1]
        after = start + len(prompt)
        pairs.append((prompt, text[after:after + tokens]))
    return [(p, t) for p, t in pairs if p]


def write_samples(model: torch.nn.Module, data: Any, path: Path, tokens: int = 200,
                  temperature: float = 0.8, top_k: int | None = 20, seed: int = 0) -> None:
    """artifacts/samples.npz for the report: continuations of prompts from the test text."""
    chars = data.spec.class_names
    test = data.test
    if not len(test):
        return
    text = decode(torch.cat([test.x.flatten(), test.y[-1, -1:]]).tolist(), chars)
    prompts, truths, samples = [], [], []
    generator = torch.Generator().manual_seed(seed)
    for prompt, truth in held_out_prompts(text, tokens=tokens):
        ids, _ = encode_prompt(prompt, chars)
        new = continue_ids(model, ids, tokens, data.spec.input_shape[0], temperature, top_k, generator)
        prompts.append(prompt)
        truths.append(truth)
        samples.append(decode(new, chars))
    save_npz(path, prompt=np.array(prompts, dtype=str), sample=np.array(samples, dtype=str),
             truth=np.array(truths, dtype=str),
             settings=np.array(f"temperature {temperature}, top-k {top_k}, seed {seed}"))
