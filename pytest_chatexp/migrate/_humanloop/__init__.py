"""The Humanloop importer: model configs, ``.prompt`` files, datasets, evaluators and logs ->
prompt file, dataset, test module and seed recordings.

``_source.py`` reads each export and tells its shape; ``_configs.py`` maps model configs and
prompt versions (v4 and v5) and Humanloop's provider names; ``_data.py`` reads datapoints,
evaluators and logs; ``_seeds.py`` turns logs into recordings in the plugin's own format;
``_plan.py`` assembles the plan.
"""
