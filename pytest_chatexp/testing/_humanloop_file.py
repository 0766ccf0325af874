"""``--humanloop-config FILE``: a Humanloop organisation for the command-line reference server.

The file is YAML (JSON is YAML too), read with PyYAML, which is imported only when the option
is used: the rest of :mod:`pytest_chatexp.testing` stays standard library only. Its shape::

    projects:                  # optional: name -> id (the project_id the server answers)
      support: pr_support
    model_configs:             # stored configs by id (Humanloop's ModelConfigChatRequest)
      config_prod: {model: gpt-4o, chat_template: [{role: system, content: "Hi {{name}}."}]}
    experiments:               # experiment id -> the configs it serves (ids above, or configs)
      exp_tone: [config_prod, {id: config_terse, model: gpt-4o-mini}]
    deployments:               # what /chat-deployed answers for a project (name or id)
      - {project: support, target: exp_tone}                       # the default environment
      - {project: support, environment: staging, target: config_prod}

It is bounded (a size and a count limit) and every mistake is a :class:`HumanloopFileError`
naming the file and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pytest_chatexp.testing._humanloop import HumanloopBackend
from pytest_chatexp.testing._humanloop_requests import check_stored_config

__all__ = ["HumanloopFileError", "load_humanloop_file"]

MAX_BYTES: Final = 1_000_000
MAX_ITEMS: Final = 1_000  # per section
_SECTIONS: Final = ("projects", "model_configs", "experiments", "deployments")
_DEPLOYMENT_KEYS: Final = frozenset({"project", "environment", "target"})


class HumanloopFileError(ValueError):
    """A ``--humanloop-config`` file the server cannot use; the message names file and field."""


def load_humanloop_file(path: Path, backend: HumanloopBackend) -> None:
    """Declare the file's projects, stored configs, experiments and deployments on
    ``backend``; nothing is declared when the file has a mistake."""
    data = _read(path)

    def fail(where: str, problem: str) -> HumanloopFileError:
        return HumanloopFileError(f"{path}: {where}: {problem}")

    sections = {name: data.get(name) or {} for name in _SECTIONS}
    sections["deployments"] = data.get("deployments") or []
    for name, value in sections.items():
        expected = list if name == "deployments" else dict
        if not isinstance(value, expected):
            raise fail(name, f"expected a {'list' if expected is list else 'mapping'}")
        if len(value) > MAX_ITEMS:
            raise fail(name, f"{len(value)} entries; at most {MAX_ITEMS}")
    projects: dict[str, str] = {}
    for name, project_id in sections["projects"].items():
        if not isinstance(project_id, str) or not project_id:
            raise fail(f"projects.{name}", "expected the project's id (a string)")
        projects[str(name)] = project_id
    configs: dict[str, dict[str, Any]] = {}
    for config_id, config in sections["model_configs"].items():
        configs[str(config_id)] = _config(config, f"model_configs.{config_id}", fail)
    experiments: dict[str, list[dict[str, Any]]] = {}
    for experiment_id, members in sections["experiments"].items():
        where = f"experiments.{experiment_id}"
        if not isinstance(members, list) or not members:
            raise fail(where, "expected a non-empty list of config ids or configs")
        served = []
        for position, member in enumerate(members):
            at = f"{where}[{position}]"
            if isinstance(member, str):
                if member not in configs:
                    raise fail(at, f"no model config '{member}' in model_configs")
                served.append({"id": member, **configs[member]})
            else:
                served.append(_config(member, at, fail))
        experiments[str(experiment_id)] = served
    deployments: list[tuple[str, str | None, str]] = []
    for position, deployment in enumerate(sections["deployments"]):
        where = f"deployments[{position}]"
        if not isinstance(deployment, Mapping):
            raise fail(where, "expected a mapping with project, target and optional environment")
        unknown = sorted(set(deployment) - _DEPLOYMENT_KEYS)
        if unknown:
            raise fail(where, f"unknown keys {unknown}; expected project, environment, target")
        project, target = deployment.get("project"), deployment.get("target")
        environment = deployment.get("environment")
        if not isinstance(project, str):
            raise fail(f"{where}.project", "expected a project name or id")
        if not isinstance(target, str) or (target not in configs and target not in experiments):
            raise fail(f"{where}.target", f"{target!r} is no model config or experiment id")
        if environment is not None and not isinstance(environment, str):
            raise fail(f"{where}.environment", "expected a string")
        deployments.append((project, environment, target))
    for config_id, config in configs.items():
        backend.add_model_config({"id": config_id, **config})
    for experiment_id, served in experiments.items():
        backend.add_experiment(experiment_id, served)
    backend.projects.update(projects)
    for project, environment, target in deployments:
        # Reachable by the project's name and by its id, as on Humanloop.
        for key in {project, projects.get(project, project)}:
            backend.deploy(key, target, environment=environment)


def _read(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise HumanloopFileError(f"{path}: {size} bytes; at most {MAX_BYTES}")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HumanloopFileError(f"{path}: cannot read it: {exc}") from None
    try:
        data = _load_yaml(text)
    except ValueError as exc:
        raise HumanloopFileError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HumanloopFileError(f"{path}: expected a mapping with {', '.join(_SECTIONS)}")
    unknown = sorted(set(map(str, data)) - set(_SECTIONS))
    if unknown:
        raise HumanloopFileError(
            f"{path}: unknown sections {unknown}; expected {', '.join(_SECTIONS)}"
        )
    return data


def _load_yaml(text: str) -> Any:
    """The data of ``text``, read as the plugin reads its YAML files (``_reading.load_yaml``,
    which this stand-alone server cannot import): the safe loader, no anchors or aliases (a
    small file must not expand to billions of values), no key given twice."""
    import yaml  # only now: the server is standard library only without this option

    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[valid-type,misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key_node.tag == "tag:yaml.org,2002:merge" or key in seen:
                    line = key_node.start_mark.line + 1
                    raise ValueError(f"the key {key!r} at line {line} is a merge or repeated key")
                seen.add(key)
            mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
            return mapping

    try:
        for event in yaml.parse(text, Loader=Loader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                mark = event.start_mark
                where = f" (line {mark.line + 1})" if mark is not None else ""
                raise ValueError(f"anchors and aliases are not allowed{where}")
        return yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        raise ValueError(" ".join(str(exc).split())) from None
    except RecursionError:
        raise ValueError("the data is nested too deeply") from None


def _config(config: object, where: str, fail: Any) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise fail(where, "expected a model config mapping (model, chat_template, ...)")
    try:
        check_stored_config(config)
    except ValueError as exc:
        raise fail(where, f"the model config is {exc}") from None
    return dict(config)
