# any2capins — every target creates and reuses .venv by itself.
PY      ?= $(shell command -v python3.11 || command -v python3)
VENV    ?= .venv
BIN     := $(VENV)/bin
RUN     ?= runs/demo
CLIPS   ?= examples/clips
CONFIG  ?= pipelines/demo.yaml
# Exact versions of every install (pyproject.toml keeps ranges for the core): `make constraints`.
CONSTRAINTS ?= constraints.txt
PIP     := $(BIN)/python -m pip install -q -c $(CONSTRAINTS)
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS) | sha1sum | cut -c1-12)
CLI     := $(BIN)/any2capins
COMMA   := ,
# Tiny random models for the offline demo (written by `any2capins models tiny`; see demo.yaml).
TINY    ?= .tiny-models
MMPOSE_STAMP := $(VENV)/.mmpose-$(shell cat requirements-mmpose.txt | sha1sum | cut -c1-12)
# One set of LLM variables for `make demo`, `make captions` and `make shortprompts` alike: with
# LLM_BASE_URL (an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1; for OpenAI itself
# https://api.openai.com/v1) the LLM writes the captions and the short prompts, with model
# LLM_MODEL and the key from the environment variable named by LLM_KEY_ENV (`null` for keyless
# local servers). Without LLM_BASE_URL both use the offline `rules` backend: nothing is ever
# sent to a default public endpoint.
LLM_BASE_URL ?=
LLM_MODEL    ?= gpt-4o-mini
LLM_KEY_ENV  ?= OPENAI_API_KEY
LLM_BACKEND  := $(if $(LLM_BASE_URL),openai,rules)
llm_set = --set $(1).backend=$(LLM_BACKEND) $(if $(LLM_BASE_URL),--set $(1).llm.base_url=$(LLM_BASE_URL) \
	--set $(1).llm.model=$(LLM_MODEL) --set $(1).llm.api_key_env=$(LLM_KEY_ENV))
CAPTIONS_SET := $(call llm_set,captions)
SHORTPROMPTS_SET := $(call llm_set,shortprompts)

.PHONY: install install-mmpose constraints docs test-core demo test lint ingest extract captions shortprompts review review-web export bench bench-review schemas clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU torch from this machine's wheel first, so nothing pulls a CUDA build; no torchvision.
	$(PIP) torch==2.13.0
	$(PIP) -e '.[pipeline,dev]'
	# the OCR text detector of curation ships its ONNX weights in the wheel; --no-deps: it
	# declares opencv-python, which would overwrite opencv-python-headless's cv2/ (its real
	# dependencies are in the pipeline extra)
	$(PIP) --no-deps rapidocr-onnxruntime==1.4.4
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## The optional mmpose backend of the pose stage (pose.backend: mmpose), with the recipe that
## works next to CPU torch and numpy 2: pinned packages without their own dependencies (which
## would pull opencv-python and torchvision), xtcocotools built from source for numpy 2.
$(MMPOSE_STAMP): requirements-mmpose.txt $(STAMP)
	$(PIP) --no-deps -r requirements-mmpose.txt
	$(PIP) --no-deps --no-build-isolation --no-binary xtcocotools \
		xtcocotools==1.14.3
	@rm -f $(VENV)/.mmpose-* && touch $(MMPOSE_STAMP)

install-mmpose: $(MMPOSE_STAMP)

## The main job, end to end, on the bundled example clips (RUN=... to choose the run folder).
demo: install
	$(CLI) ingest $(CLIPS) --out $(RUN) --config $(CONFIG)
	$(CLI) models tiny $(TINY)
	$(CLI) extract --run $(RUN) --config $(CONFIG)
	$(CLI) captions --run $(RUN) --config $(CONFIG) $(CAPTIONS_SET)
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
	$(CLI) captions --run $(RUN) --config pipelines/captions.yaml $(CAPTIONS_SET)

## Review captions of RUN on this terminal: make review RUN=runs/x ANNOTATOR=you
## (enqueues RUN's merged captions first: idempotent; policy etc. in pipelines/review.yaml).
review: install
	@test -n "$(or $(ANNOTATOR),$(ANY2CAPINS_ANNOTATOR))" || \
		{ echo "make review: set ANNOTATOR=your-name (recorded with every decision)"; exit 2; }
	$(CLI) review enqueue --run $(RUN) --config pipelines/review.yaml
	$(CLI) review --run $(RUN) --annotator $(or $(ANNOTATOR),$(ANY2CAPINS_ANNOTATOR)) \
		--config pipelines/review.yaml

## The review in the browser on RUN (e.g. after make demo): prints a login token for a first
## user (WEB_USER, a lead; a new token each time) and the URL, then serves until Ctrl-C
## (WEB_HOST=0.0.0.0 to be reached from other hosts). After make demo every item is decided
## automatically: REOPEN_AUTOMATIC=1 sends those decisions back to the queue first.
WEB_USER ?= lead
WEB_HOST ?= 127.0.0.1
WEB_PORT ?= 8770
review-web: install
	$(CLI) review enqueue --run $(RUN) --config pipelines/review.yaml
	$(if $(REOPEN_AUTOMATIC),$(CLI) review reopen --run $(RUN) --annotator $(WEB_USER) \
		--automatic --reason "make review-web REOPEN_AUTOMATIC=1" --config pipelines/review.yaml)
	$(CLI) review users add $(WEB_USER) --role lead --new-token --run $(RUN) \
		--config pipelines/review.yaml
	$(CLI) review serve --run $(RUN) --host $(WEB_HOST) --port $(WEB_PORT) \
		--config pipelines/review.yaml

## Short prompts for RUN's approved captions (LLM_BASE_URL=... as for captions, else rules).
shortprompts: install
	$(CLI) shortprompts --run $(RUN) --config pipelines/shortprompts.yaml $(SHORTPROMPTS_SET)

export: install
	$(CLI) export --run $(RUN) --config pipelines/export.yaml

## Regenerate schemas/ from the record models (a test fails when they drift).
schemas: install
	$(CLI) schemas --out schemas

## The core package alone (what annotators install: review CLI, records, config) in its own venv
## under .venv/, on another Python or with the lowest versions pyproject.toml allows:
##   make test-core CORE_PY=python3.13      make test-core CORE_DEPS=lowest
CORE_PY     ?= $(PY)
CORE_DEPS   ?= newest
CORE_VENV   := $(VENV)/core-$(notdir $(CORE_PY))-$(CORE_DEPS)
CORE_LOWEST := pydantic==2.6.4 pyyaml==6.0.1 pyarrow==20.0.0 numpy==1.26.4 pillow==10.0.1 rich==13.0.0
test-core:
	@test -x $(CORE_VENV)/bin/python || $(CORE_PY) -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/python -m pip install -q $(if $(filter lowest,$(CORE_DEPS)),$(CORE_LOWEST)) \
		-e . pytest==9.2.0 pexpect==4.9.0
	$(CORE_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_review_store.py \
		tests/test_review_cli.py tests/test_config.py \
		--deselect tests/test_review_cli.py::test_remote_run_folder_needs_local_queue_and_exports_to_s3

## Regenerate docs/configuration.md, docs/schemas.md and docs/benchmarks.md from the config
## models, the record models and bench/results/*.json (a test fails when they are stale).
docs: install
	$(CLI) docs --out docs

## Rewrite constraints.txt from the packages .venv holds (after changing a pin in pyproject.toml
## or requirements-mmpose.txt and installing it); torch without its local (+cpu) label.
constraints:
	@test -x $(BIN)/python || { echo "make constraints: no $(VENV); run make install first"; exit 2; }
	@{ sed -n '/^#/p' $(CONSTRAINTS); $(BIN)/python -m pip freeze --all --exclude-editable | \
		grep -v -E '^(pip|any2capins)==' | sed -E 's/^(torch==[^+]*)\+.*/\1/' | LC_ALL=C sort -f; \
	} > $(CONSTRAINTS).new && mv $(CONSTRAINTS).new $(CONSTRAINTS)
	@echo "wrote $(CONSTRAINTS)"

## Benchmarks: `make bench-NAME` runs bench/NAME.py (decode, extract, camera, captions,
## review_queue, shots, loader, ...), which prints its figures and records them in
## bench/results/NAME.json; `make bench` runs them all, then renders docs/benchmarks.md.
BENCHES := $(basename $(notdir $(filter-out bench/results.py bench/baseline.py,$(wildcard bench/*.py))))
bench-%: install
	nice $(BIN)/python bench/$*.py
bench-pose: install-mmpose   # builds DWPose's architecture with mmpose (no hub here)
bench-review: bench-review_queue
bench: $(addprefix bench-,$(BENCHES))
	$(CLI) docs --out docs

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
