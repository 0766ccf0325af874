"""pytest-chatexp: regression-test LLM prompts and model configs with pytest."""
