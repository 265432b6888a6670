"""Bridges to other tools: a spaCy pipeline component (`spacy`), Label Studio export / import
(`labelstudio`), published GLiNER checkpoints as an encoder backend (`gliner`). Each module imports
its optional dependency itself, behind an extra (`pip install hybrid-ie[spacy]`), so `import
hybrid_ie` never pays for it."""
