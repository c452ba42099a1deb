"""The run configuration's schema: one typed section per part of a run (`RunConfig`).

Every key is typed, unknown keys are errors, and values are checked as far as the schema can
know them; whether a name (a data set, model, task, RL algorithm or tracker) is registered is
checked one layer up, by `gradkit.engine.configs`, against the registries themselves.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from gradkit.config.partition import parse_partition


# the widths of a network's layers (hidden units, channels): a zero-width layer has no capacity
# and a negative one does not exist, so every entry is 1 or more ([] itself may mean "none")
Widths = list[Annotated[int, Field(ge=1)]]


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, numbers may fill strings, and a
    number is finite (`optim.lr=.inf` would pass `gt=0` and train on NaN)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, validate_assignment=True,
                              allow_inf_nan=False)


class DataConfig(Section):
    name: str = "digits"  # the data set (see Data sets below); `csv`, `image-folder`, ... read yours
    path: str | None = None  # a CSV file for `csv`
    dir: str | None = None  # where to look for (or download) a named data set first
    target: str | None = None  # target column for `csv`
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)  # carved from train, stratified, for validation
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # only for sets without a test split
    limit: int | None = Field(None, ge=10)  # keep a stratified subset of N training examples
    augment: list[Literal["flip", "crop"]] = []  # images: random flips / padded crops per training batch
    download: bool = True  # fetch a named set into the cache when it is found nowhere on disk
    # image-folder only:
    image_size: int | None = Field(None, ge=1)  # resize to N x N; null: the first image's size
    channels: Literal[1, 3] | None = None  # grey or RGB; null: as the first image
    in_memory: Literal["auto"] | bool = "auto"  # auto: decode once if it fits memory_limit_mb
    memory_limit_mb: int = Field(2048, ge=1)  # budget for the decoded uint8 images
    workers: int | None = Field(None, ge=0)  # DataLoader processes for streamed data; null: min(4, CPUs-1)
    # text only:
    # wordpiece/bpe/word: a vocabulary learnt on train only; pretrained: the tokenizer of
    # `data.pretrained` (set from model.pretrained for model.name=bert)
    tokenizer: Literal["wordpiece", "bpe", "word", "pretrained"] = "wordpiece"
    pretrained: str | None = None  # tokenizer=pretrained: whose tokenizer (a model name or folder)
    vocab_size: int = Field(8000, ge=10)  # tokens in a vocabulary learnt on train
    max_length: int = Field(64, ge=1)  # tokens kept per text; longer texts are truncated (counted)
    lowercase: bool = True  # lowercase texts before tokenising (a learnt vocabulary)
    top_k: int | None = Field(None, ge=2)  # keep the K most frequent labels
    pos: Literal["noun", "verb", "adj", "adv", "all"] = "noun"  # wordnet-supersenses: part of speech
    # series only (series-csv, sunspots, co2, nile); splits are chronological: train, val, test
    column: str | None = None  # series-csv: the column holding the series' values
    time_column: str | None = None  # series-csv: optional time labels (the report's axis)
    input_length: int | None = Field(None, ge=1)  # past values per window; null: max(24, 2 seasons)
    horizon: int = Field(1, ge=1)  # values forecast per window (multi-step)
    season: int | None = Field(None, ge=1)  # seasonal-naive lag; null: the set's own (1: none)
    # adding (generated long-memory sequences): train/val/test come from data.val_fraction and
    # data.test_fraction of data.samples
    length: int = Field(100, ge=2)  # steps per sequence (T)
    samples: int = Field(20000, ge=10)  # sequences generated in all

    # Before-validators give one clear message where pydantic would list each member it tried.
    @field_validator("channels", mode="before")
    @classmethod
    def _channels(cls, value: Any) -> Any:
        if value not in (None, 1, 3):
            raise ValueError("expected 1 (grey), 3 (RGB) or null (as the first image)")
        return value

    @field_validator("in_memory", mode="before")
    @classmethod
    def _in_memory(cls, value: Any) -> Any:
        if value not in ("auto", True, False):
            raise ValueError("expected auto, true or false")
        return value


class TaskConfig(Section):
    name: str = "classification"  # the task: decides the loss, metrics, baselines and report
    loss: Literal["auto", "cross_entropy", "bce", "mse", "mae", "huber"] = "auto"  # auto: the task's own
    # classification: soft targets; gan: one-sided, real images get target 1 - label_smoothing
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    # reconstruct: std of the Gaussian noise added to inputs (pixels in [0, 1]): a denoising AE
    noise: float = Field(0.0, ge=0.0, le=1.0)
    beta: float = Field(1.0, ge=0.0)  # vae: weight of the KL term (1: the ELBO; beta-VAE otherwise)
    # vae, gan: images generated at the end and scored by FID in a gradkit classifier's features
    # (0: skip); fid_classifier: that classifier's run directory (None: one trained once, cached)
    fid: int = Field(0, ge=0)
    fid_classifier: str | None = None  # a classifier run directory whose features score FID

    # which task reads which of these options is the task's to say (`Task.options`); a value set
    # for a task that ignores it is refused by gradkit.engine.configs

    @model_validator(mode="after")
    def _fid_size(self) -> TaskConfig:
        if 0 < self.fid < 500:
            raise ValueError(f"task.fid={self.fid} images are too few for a stable FID (the "
                             "covariance of 128 features needs thousands); use task.fid=10000, "
                             "or 0 to skip it")
        return self


class OptimConfig(Section):
    name: Literal["sgd", "rmsprop", "adam", "adamw"] = "adam"  # the torch.optim optimiser
    lr: float = Field(1e-3, gt=0.0)  # the learning rate (the peak one under a schedule)
    weight_decay: float = Field(0.0, ge=0.0)  # L2 penalty (decoupled for adamw)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)  # sgd and rmsprop
    nesterov: bool = False  # sgd: Nesterov momentum
    betas: tuple[float, float] = (0.9, 0.999)  # adam, adamw: the moment decay rates
    alpha: float = 0.99  # RMSprop smoothing constant
    # linear: decay to 0 at the end (BERT fine-tuning's schedule, with warmup_epochs)
    schedule: Literal["none", "step", "cosine", "onecycle", "linear"] = "none"
    warmup_epochs: float = Field(0.0, ge=0.0)  # linear warm-up, in (fractional) epochs
    step_size: int = Field(10, ge=1)  # epochs between decays for `step`
    gamma: float = Field(0.1, gt=0.0)  # decay factor for `step`
    # a pretrained backbone (model.name=pretrained or bert) trains at lr * this (discriminative lr)
    backbone_lr_mult: float = Field(1.0, gt=0.0, le=1.0)


class TrainConfig(Section):
    epochs: int = Field(10, ge=1)  # passes over the training split
    batch_size: int = Field(64, ge=1)  # examples per optimiser step (global, over every rank)
    eval_batch_size: int = Field(1024, ge=1)  # examples per batch when evaluating
    grad_clip: float | None = Field(None, gt=0.0)  # max global gradient norm
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"  # auto: bf16 where native
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    monitor: str = "val/loss"  # metric for best checkpoint and early stopping
    patience: int | None = Field(None, ge=1)  # early stopping after N epochs without improvement
    time_limit: float | None = Field(None, gt=0.0)  # seconds of training: stop after the epoch that reaches it
    deterministic: bool = False  # deterministic kernels: the same weights from the same seed
    threads: int | None = Field(None, ge=1)  # torch threads; null: torch's default (the cores)
    channels_last: bool = False  # images in channels-last memory layout (faster bf16 convolutions)
    unfreeze_at_epoch: int | None = Field(None, ge=1)  # with a frozen backbone: train it all from epoch N
    # distributed runs (--nproc, torchrun): seconds a rank waits in a collective before the run
    # stops with an error naming the rank that stalled; covers rank 0's validation and checkpoint
    dist_timeout: float = Field(600.0, gt=0.0)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError(f"expected auto, cpu, cuda, cuda:N or mps, got '{value}'")
        return value


class OutputConfig(Section):
    dir: str = "runs"  # runs go to DIR/<name>/<timestamp>-<seed>/
    run_dir: str | None = None  # an exact run directory (`--out`)
    report: bool = True  # write report.html at the end
    samples: int = Field(48, ge=0)  # test examples kept for the report's prediction grid
    # classifiers: explain a few test predictions at the end (integrated gradients, Captum) for
    # the report's Explanations section; false skips it (`gradkit explain RUN_DIR` adds it later)
    explain: bool = True
    # experiment trackers fed beside the run directory: any of tensorboard, mlflow, wandb
    # (gradkit/track); track_every: optimiser steps between their `batch/` training points
    track: list[str] = []
    track_every: int = Field(50, ge=1)  # optimiser steps between the trackers' batch/ points
    # per-layer gradient norms every grad_norms_every optimiser steps (step 0 included), into
    # artifacts/grad_norms.json and the report (gradkit/training/gradnorms.py)
    grad_norms: bool = False
    grad_norms_every: int = Field(20, ge=1)  # optimiser steps between gradient-norm records
    # also measure the final model on the training split (eval mode, no augmentation):
    # trainset/* metrics and gap/* = trainset - test, the generalisation gap (overfitting)
    train_metrics: bool = False

    @field_validator("track", mode="before")
    @classmethod
    def _track(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):  # output.track=mlflow or output.track=tensorboard,mlflow
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ValueError("expected a list of trackers, e.g. [tensorboard, mlflow]")
        return list(dict.fromkeys(value))  # which names exist: gradkit.engine.configs


class FederatedConfig(Section):
    """`gradkit federated`: clients, rounds and aggregation on Flower's simulation runtime
    (gradkit/federated). A recipe with this section is a federated recipe."""

    clients: int = Field(10, ge=1)  # simulated clients (Flower SuperNodes), one data partition each
    rounds: int = Field(20, ge=1)  # rounds of sampling, local training and aggregation
    fraction: float = Field(0.5, gt=0.0, le=1.0)  # clients sampled to train in each round
    local_epochs: int = Field(1, ge=1)  # epochs each sampled client trains on its partition per round
    strategy: Literal["fedavg", "fedprox"] = "fedavg"  # Flower's FedAvg or FedProx
    proximal_mu: float = Field(0.01, ge=0.0)  # fedprox: weight of (mu/2)·||w - w_global||²
    partition: str = "iid"  # iid | dirichlet:ALPHA | shards:K (gradkit/federated/partition.py)
    # differential privacy (Flower's fixed-clipping wrappers): clip each client's update to
    # L2 norm dp_clip and add Gaussian noise of std dp_noise·dp_clip/sampled clients
    dp_clip: float | None = Field(None, gt=0.0)
    dp_noise: float | None = Field(None, ge=0.0)  # the noise multiplier sigma
    dp_clipping: Literal["server", "client"] = "server"  # where updates are clipped
    dp_delta: float = Field(1e-5, gt=0.0, lt=1.0)  # the delta of the (epsilon, delta) stated
    # centralised baseline from the same recipe; null: rounds x fraction x local_epochs epochs
    # (the same number of passes over the data), 0: none
    baseline_epochs: int | None = Field(None, ge=0)
    client_cpus: float = Field(1.0, gt=0.0)  # Ray CPUs per client: clients in parallel = CPUs / this

    @field_validator("partition")
    @classmethod
    def _partition(cls, value: str) -> str:
        return str(parse_partition(value))

    @model_validator(mode="after")
    def _privacy(self) -> FederatedConfig:
        if (self.dp_clip is None) != (self.dp_noise is None):
            raise ValueError("differential privacy needs both federated.dp_clip (the clipping "
                             "norm) and federated.dp_noise (the noise multiplier), e.g. "
                             "--dp-clip 1.0 --dp-noise 0.5")
        return self


class LessonCheck(Section):
    """One measurable reading of a lesson's claim: `variant` beats `against` on `metric`."""

    variant: str  # the variant the claim favours
    against: str  # the variant it should beat
    # a final metric (test/accuracy), a per-epoch one at an epoch (val/accuracy@1), or one the
    # summary derives: reach/epochs, reach/seconds, seconds/epoch, train/seconds, params,
    # grads/first_over_last (log10 of the first layer's gradient norm over the last's)
    metric: str
    higher: bool | None = None  # higher is better; None: from the metric's name


class LessonConfig(Section):
    """An article's claim as a measurement (gradkit/report/lessons.py): the variants and seeds
    of the recipe, the checks that would support it, and what the verdict cannot see."""

    claim: str  # the claim in the article's words
    checks: list[LessonCheck] = Field(min_length=1)  # the measurable readings of the claim
    # "epochs/seconds to reach": the per-epoch metric and the value (val/accuracy, 0.85)
    reach_metric: str | None = None
    reach_value: float | None = None  # the value of reach_metric that counts as reached
    # a dotted config key the variants vary (data.limit): results plotted against it
    axis: str | None = None
    axis_log: bool = False  # plot the axis on a log scale
    caveats: str = ""  # what the measurement does not show (data, sizes, budgets)


class RunConfig(Section):
    name: str = "custom"  # the run's name: runs go to output.dir/<name>/
    description: str = ""  # one line on what the run is, for `gradkit recipes` and the report
    reproduces: str = ""  # what the recipe reproduces, for `gradkit recipes`
    reaches: str = ""  # the figure it reaches on the reference machine, for docs/recipes.md
    seed: int = 0  # seeds the data split, initialisation and batch order
    data: DataConfig = DataConfig()
    model: dict[str, Any] = {"name": "mlp"}
    task: TaskConfig = TaskConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    output: OutputConfig = OutputConfig()
    # name -> overrides: one recipe trains each variant (this config deep-merged with its
    # overrides) as its own run and compares them (gradkit/variants.py); {}: one plain run
    variants: dict[str, dict[str, Any]] = {}
    # train the recipe (every variant) once per seed: N means seed, seed+1, ..., seed+N-1; a list
    # names them. Each cell an ordinary run; a summary with mean, sd and 95% CI (gradkit/variants.py)
    seeds: int | list[int] | None = None
    # an article's claim measured over the variants and seeds (`gradkit lessons`); null: none
    lesson: LessonConfig | None = None
    # reinforcement learning: {algo: ppo|dqn, env: CartPole-v1, ...}, validated by the algorithm's
    # own config (gradkit/rl); {}: a supervised run. data, model, task, optim and train are unused.
    rl: dict[str, Any] = {}
    federated: FederatedConfig | None = None  # null: an ordinary (centralised) run

    @field_validator("variants")
    @classmethod
    def _variants(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, over in value.items():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
                raise ValueError(f"variant name '{name}' must be letters, digits, '_', '-' or '.' "
                                 "(it names the variant's run directory)")
            fixed = [k for k in ("name", "variants", "seeds", "lesson") if k in over]
            output = over.get("output")
            fixed += [f"output.{k}" for k in ("dir", "run_dir") if isinstance(output, dict) and k in output]
            if fixed:
                raise ValueError(f"variant '{name}' may not set {', '.join(fixed)}: the recipe "
                                 "names the runs and places them in one parent directory")
        return value

    @field_validator("lesson")
    @classmethod
    def _lesson_names(cls, value: LessonConfig | None, info: ValidationInfo) -> LessonConfig | None:
        variants = info.data.get("variants") or {}
        for check in value.checks if value is not None else []:
            for name in (check.variant, check.against):
                if name not in variants:
                    raise ValueError(f"'{name}' is not a variant of this recipe (variants: "
                                     f"{', '.join(variants) or 'none'}); a check compares two")
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: int | list[int] | None) -> int | list[int] | None:
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise ValueError(f"seeds={value}: train with 1 or more seeds (2 or more for a spread)")
        if isinstance(value, list) and (not value or len(set(value)) != len(value)):
            raise ValueError("seeds: a non-empty list of distinct seeds, e.g. [0, 1, 2]")
        return value

    @field_validator("task", mode="before")
    @classmethod
    def _task_shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("model", mode="before")
    @classmethod
    def _model_shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
