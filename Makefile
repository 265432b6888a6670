# hybrid-ie: set-up, demo and tests. `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Portable llama.cpp build (no -march=native): runs on any x86-64 with AVX2.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF
LOCAL_MODEL ?= qwen2.5-coder-0.5b
OUT := demo-output

.PHONY: setup local demo test test-all lint wheels clean

## setup: .venv with torch 2.13.0 (CPU wheel) first, then the project with its dev, docs, spacy, ray and bench extras
setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,docs,spacy,ray,bench]"
	touch $@

## local: the local LLM tier: llama-cpp-python (built from source once, ~9 min) + the GGUF model
local: $(VENV)/.local
$(VENV)/.local: $(VENV)/.installed
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -e ".[dev,docs,spacy,ray,bench,local]"
	$(BIN)/hybrid-ie models pull $(LOCAL_MODEL)
	touch $@

## demo: the main job on the sample shipped in the repo: hybrid extraction, scores, HTML view
demo: $(VENV)/.local
	mkdir -p $(OUT)
	$(BIN)/hybrid-ie extract eval/samples/news.jsonl --schema conll04 --mode hybrid -o $(OUT)/news.jsonl
	$(BIN)/hybrid-ie eval --gold eval/samples/news_gold.jsonl --pred $(OUT)/news.jsonl --schema conll04
	$(BIN)/hybrid-ie render $(OUT)/news.jsonl -o $(OUT)/news.html
	@echo "demo output: $(OUT)/news.jsonl, $(OUT)/news.html"

## test: the test suite (offline; tests needing the local LLM skip when it is not set up)
test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

## wheels: dist/ with the code wheel (hybrid-ie) and the default checkpoint's weights package
## (hybrid-ie-minilm-zs, its files taken from models/hybrid-ie-minilm-zs at build time)
wheels: $(VENV)/.installed
	rm -rf dist build packages/hybrid-ie-minilm-zs/build  # a stale build/lib would ship removed files
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation -w dist . ./packages/hybrid-ie-minilm-zs
	@ls dist

lint: $(VENV)/.installed
	$(BIN)/ruff check hybrid_ie tests eval

clean:
	rm -rf $(OUT) .pytest_cache dist build packages/hybrid-ie-minilm-zs/build
