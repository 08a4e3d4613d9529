# any2capins — every target creates and reuses .venv by itself.
PY      ?= $(shell command -v python3.11 || command -v python3)
VENV    ?= .venv
BIN     := $(VENV)/bin
RUN     ?= runs/demo
CLIPS   ?= examples/clips
CONFIG  ?= pipelines/demo.yaml
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
CLI     := $(BIN)/any2capins
COMMA   := ,
# Tiny random models for the offline demo (written by `any2capins models tiny`; see demo.yaml).
TINY    ?= .tiny-models
MMPOSE_STAMP := $(VENV)/.mmpose-$(shell cat requirements-mmpose.txt | sha1sum | cut -c1-12)
# Captions: with LLM_BASE_URL (an OpenAI-compatible server; model LLM_MODEL; key from the env
# var named by LLM_KEY_ENV, `null` for keyless local servers) the LLM writes all six sections;
# without it the offline `rules` backend is used.
LLM_BASE_URL ?=
LLM_MODEL    ?= gpt-4o-mini
LLM_KEY_ENV  ?= OPENAI_API_KEY
CAPTIONS_BACKEND := $(if $(LLM_BASE_URL),openai,rules)
CAPTIONS_SET := $(if $(LLM_BASE_URL),--set captions.llm.base_url=$(LLM_BASE_URL) \
	--set captions.llm.model=$(LLM_MODEL) --set captions.llm.api_key_env=$(LLM_KEY_ENV))
SHORTPROMPTS_SET := --set shortprompts.backend=$(CAPTIONS_BACKEND) $(if $(LLM_BASE_URL),--set shortprompts.llm.base_url=$(LLM_BASE_URL) --set shortprompts.llm.model=$(LLM_MODEL))

.PHONY: install install-mmpose demo test lint ingest extract captions shortprompts review export bench bench-decode bench-extract bench-camera bench-captions bench-review schemas clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU torch from this machine's wheel first, so nothing pulls a CUDA build; no torchvision.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[pipeline,dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## The optional mmpose backend of the pose stage (pose.backend: mmpose), with the recipe that
## works next to CPU torch and numpy 2: pinned packages without their own dependencies (which
## would pull opencv-python and torchvision), xtcocotools built from source for numpy 2.
$(MMPOSE_STAMP): requirements-mmpose.txt $(STAMP)
	$(BIN)/python -m pip install -q --no-deps -r requirements-mmpose.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation --no-binary xtcocotools \
		xtcocotools==1.14.3
	@rm -f $(VENV)/.mmpose-* && touch $(MMPOSE_STAMP)

install-mmpose: $(MMPOSE_STAMP)

## The main job, end to end, on the bundled example clips (RUN=... to choose the run folder).
demo: install
	$(CLI) ingest $(CLIPS) --out $(RUN) --config $(CONFIG)
	$(CLI) models tiny $(TINY)
	$(CLI) extract --run $(RUN) --config $(CONFIG)
	$(CLI) captions --run $(RUN) --config $(CONFIG) --backend $(CAPTIONS_BACKEND) $(CAPTIONS_SET)
	$(CLI) review enqueue --run $(RUN) --config $(CONFIG)
	@echo "demo: the review step is AUTOMATIC (demo-bot accepts every caption$(if $(LLM_BASE_URL),,$(COMMA) incomplete rules-backend ones included); people review with: make review RUN=$(RUN) ANNOTATOR=you)"
	$(CLI) review auto-accept --run $(RUN) --annotator demo-bot --config $(CONFIG) $(if $(LLM_BASE_URL),,--allow-incomplete)
	$(CLI) review export --run $(RUN) --config $(CONFIG)
	$(CLI) shortprompts --run $(RUN) --config $(CONFIG) $(SHORTPROMPTS_SET)
	$(CLI) export --run $(RUN) --config $(CONFIG)
	@echo "demo outputs in $(RUN)/ : instances/ (the dataset), README.md (dataset card), clips/, conditions/, captions/, review/, shortprompts/, _errors/, run.json, logs/"

## Lint and the whole test suite (offline).
test: install install-mmpose
	$(BIN)/ruff check any2capins tests bench
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check any2capins tests bench

ingest: install
	$(CLI) ingest $(CLIPS) --out $(RUN) --config pipelines/ingest.yaml

## Conditions (depth, pose, camera, refs) of RUN's clips; STAGES=depth,pose to pick some.
extract: install
	$(CLI) extract --run $(RUN) --config pipelines/extract.yaml $(if $(STAGES),--stages $(STAGES))

## Six-section captions of RUN (LLM_BASE_URL=... for an LLM server, else the rules backend).
captions: install
	$(CLI) captions --run $(RUN) --config pipelines/captions.yaml --backend $(CAPTIONS_BACKEND) \
		$(CAPTIONS_SET)

## Review captions of RUN on this terminal: make review RUN=runs/x ANNOTATOR=you
## (enqueues RUN's merged captions first: idempotent; policy etc. in pipelines/review.yaml).
review: install
	@test -n "$(or $(ANNOTATOR),$(ANY2CAPINS_ANNOTATOR))" || \
		{ echo "make review: set ANNOTATOR=your-name (recorded with every decision)"; exit 2; }
	$(CLI) review enqueue --run $(RUN) --config pipelines/review.yaml
	$(CLI) review --run $(RUN) --annotator $(or $(ANNOTATOR),$(ANY2CAPINS_ANNOTATOR)) \
		--config pipelines/review.yaml

## Short prompts for RUN's approved captions, then the instances and the dataset card.
shortprompts: install
	$(CLI) shortprompts --run $(RUN) --config pipelines/shortprompts.yaml

export: install
	$(CLI) export --run $(RUN) --config pipelines/export.yaml

## Regenerate schemas/ from the record models (a test fails when they drift).
schemas: install
	$(CLI) schemas --out schemas

## Benchmarks: each prints its figures and ratios (see README "Benchmarks"); `make bench` runs all.
bench-decode: install
	$(BIN)/python bench/decode.py
bench-extract: install
	$(BIN)/python bench/extract.py
bench-camera: install
	$(BIN)/python bench/camera.py
bench-captions: install
	$(BIN)/python bench/captions.py
bench-review: install
	$(BIN)/python bench/review_queue.py
bench: bench-decode bench-captions bench-review bench-camera bench-extract
	$(BIN)/python bench/captions.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
