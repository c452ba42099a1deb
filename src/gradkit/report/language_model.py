"""HTML for a language model's results: bits per character against the n-gram baselines, and
text the model wrote after prompts taken from the test text (artifacts/samples.npz)."""
from __future__ import annotations

from gradkit.report.rundir import RunData
from gradkit.report.sections import esc, note, results, section, table

MODELS = (("the model", "test"), ("bigram character model", "baseline/bigram"),
          ("unigram character model", "baseline/unigram"))


@results("language-model")
def language_model(run: RunData) -> str:
    """Comparison table, then generated samples beside the true continuations."""
    rows = []
    for label, prefix in MODELS:
        bits, ppl = run.metric(f"{prefix}/bits_per_char"), run.metric(f"{prefix}/perplexity")
        if bits is not None:
            rows.append([label, bits, ppl])
    body = (table(rows, ["test text", "bits per character", "perplexity"]) if rows
            else note("No test figures were recorded."))
    body += note("Lower is better. The baselines are scored on the same test characters: the "
                 "unigram knows each character's training frequency, the bigram also which "
                 "character follows which (Witten-Bell smoothed).")
    return section("language-model", "Language model results", body + _samples(run))


def _samples(run: RunData) -> str:
    s = run.samples or {}
    prompts, samples, truths = s.get("prompt"), s.get("sample"), s.get("truth")
    if prompts is None or samples is None or len(prompts) != len(samples) or not len(prompts):
        return note("No generated samples: artifacts/samples.npz is missing or incomplete.")
    settings = s.get("settings")
    head = "<h3>Generated text</h3>\n" + note(
        "Each prompt is the start of a line of the test text; the model continues it"
        + (f" ({settings})" if settings is not None else "") + ", beside what the text really says.")
    cells = []
    for i, (prompt, sample) in enumerate(zip(prompts, samples)):
        truth = truths[i] if truths is not None and len(truths) > i else ""
        cells.append(f"<h4>Prompt {i + 1}: <code>{esc(prompt)}</code></h4>"
                     f"<p>model:</p><pre class=\"sample-text\">{esc(str(prompt) + str(sample))}</pre>"
                     f"<p>test text:</p><pre class=\"sample-text\">{esc(str(prompt) + str(truth))}</pre>")
    return head + "\n".join(cells)


