"""Bridges to other tools. Each module imports its optional dependency itself, behind an extra
(`pip install hybrid-ie[spacy]`), so `import hybrid_ie` never pays for it."""
