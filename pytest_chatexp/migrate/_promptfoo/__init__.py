"""The promptfoo importer: ``promptfooconfig.yaml`` -> prompt file, dataset, test module.

``_source.py`` reads the config and the files it names (prompts, test files); ``_providers.py``
maps provider ids and their config; ``_tests.py`` reads the tests; ``_asserts.py`` maps
assertions to checks; ``_plan.py`` pairs prompts with providers and assembles the plan.
"""
