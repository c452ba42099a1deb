# make demo: set up .venv and train the embedded default (digits-cnn); make test: the whole suite;
# make docs: the generated pages and the documentation site (site/).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The machine's PyTorch wheels; a range in pyproject.toml resolves to them.
TORCH := torch==2.14.1 torchvision==0.29.1
# The federated extra (pyproject.toml) minus flwr's upper pins, which would downgrade typer, rich,
# protobuf, packaging, fastapi, starlette and uvicorn under the other extras: flwr's own missing
# dependencies first, then flwr itself without its pins.
FEDERATED := ray==2.55.1 "opacus>=1.5" grpcio-health-checking "pycryptodome<4" "iterators<0.0.3" \
	tomli tomli-w pathspec prompt-toolkit "uv>=0.13.5,<0.14"
FLWR := flwr==1.42.0

.PHONY: demo test venv install install-dev bench gpu-check docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH) || $(BIN)/pip install -q torch torchvision
	$(BIN)/pip install -q -e ".[dev,docs,text,series,rl,vision,explain,track,tune,export,serve]"
	$(BIN)/pip install -q $(FEDERATED) && $(BIN)/pip install -q --no-deps $(FLWR)
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/gradkit train digits-cnn

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/fashion_mlp.py
	$(BIN)/python benchmarks/fashion_cnn.py
	$(BIN)/python benchmarks/recipes.py
	$(BIN)/python benchmarks/image_folder.py
	$(BIN)/python benchmarks/series.py
	$(BIN)/python benchmarks/adding.py
	$(BIN)/python benchmarks/fashion_gan_plain.py
	$(BIN)/python benchmarks/generative.py
	$(BIN)/python benchmarks/explain.py
	$(BIN)/python benchmarks/distributed.py  # 1 vs 2 DDP ranks, about 3 minutes on 2 cores
	$(BIN)/python benchmarks/serve_load.py  # about 2 minutes
	$(BIN)/python benchmarks/fast_failure.py  # under a minute
	$(BIN)/python benchmarks/lessons.py  # about 1.5 hours on 2 cores: every lesson's verdict
	$(BIN)/python benchmarks/transfer.py  # about 5 minutes on 2 idle cores
	$(BIN)/pip install -q stable-baselines3  # benchmark-only dependency of rl_cartpole.py
	$(BIN)/python benchmarks/rl_cartpole.py  # about 15 minutes on 2 cores
	$(BIN)/python benchmarks/rl_minatar.py  # about 1.5 hours on 2 cores: pixel DQN and PPO, 3 seeds each
	$(BIN)/python benchmarks/wordnet_bert.py  # about an hour on 2 cores (2 full-data BERT epochs)

# the CUDA tests and the GPU benchmarks (results/gpu/); without a GPU it says so and exits 0
gpu-check: install
	$(BIN)/python benchmarks/gpu_check.py

docs: install
	$(BIN)/gradkit recipes --markdown > docs/recipes.md
	$(BIN)/python -c 'import json; from gradkit.engine.configs import catalog; print(json.dumps(catalog(), indent=1))' > src/gradkit/config/catalog.json  # the names preflight knows
	$(BIN)/python -m gradkit.config_doc > docs/reference/config.md  # every config key, from the code
	$(BIN)/python -m mkdocs build --strict  # the site, into site/ (gradkit docs says where)

clean:
	rm -rf $(VENV) runs .pytest_cache site
