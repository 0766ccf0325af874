"""``python -m pytest_chatexp.migrate <source> ...``: import another tool's prompts, providers,
datasets and assertions as pytest-chatexp prompt files, a JSONL dataset and a test module.

One subpackage per source format (``_promptfoo/``, ``_humanloop/``) plans every file in memory
as typed records (``_records.py``); the shared emitters (``_emit.py``) turn them into the files
the plugin reads; the writer (``_writer.py``) writes all of them or none. Nothing here is
imported by a pytest run.
"""
