"""AWX definitions: every survey variable is validated by a role or site argument spec of a fitting type."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SURVEY_TYPES = {"text": "str", "textarea": "str", "password": "str", "integer": "int", "float": "float",
                "multiplechoice": ("str", "bool"), "multiselect": "list"}


def load(path):
    return yaml.safe_load((ROOT / path).read_text())


def declared_options():
    options = dict(load("playbooks/vars/site_argument_spec.yml")["site_argument_spec"])
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        for entry_point in yaml.safe_load(spec_file.read_text())["argument_specs"].values():
            options.update(entry_point.get("options") or {})
    return options


SURVEY_QUESTIONS = [(template["name"], question) for template in load("awx/job_templates.yml")["awx_job_templates"]
                    for question in template["survey"]]


@pytest.mark.parametrize("template,question", SURVEY_QUESTIONS,
                         ids=[f"{t}:{q['variable']}" for t, q in SURVEY_QUESTIONS])
def test_every_survey_variable_is_validated_by_a_spec(template, question):
    option = declared_options().get(question["variable"])
    assert option is not None, f"{template}: survey variable {question['variable']} is validated by no argument spec"
    wanted = SURVEY_TYPES[question["type"]]
    assert option.get("type", "str") in (wanted if isinstance(wanted, tuple) else (wanted,))
    if question.get("choices") and option.get("choices"):
        choices = [str(choice).lower() for choice in option["choices"]]
        assert {str(choice).lower() for choice in question["choices"]} <= set(choices)
    if option.get("type") == "bool":
        assert set(question["choices"]) == {"true", "false"}


def test_playbooks_and_credential_types_exist():
    types = {item["name"] for item in load("awx/credential_types.yml")["awx_credential_types"]}
    for template in load("awx/job_templates.yml")["awx_job_templates"]:
        assert (ROOT / template["playbook"]).is_file(), template["playbook"]
        for credential_type in template["credential_types"]:
            assert credential_type in types | {"machine", "vault"}, credential_type


def test_kubeconfig_credential_injects_the_variable_the_modules_read():
    kube = next(t for t in load("awx/credential_types.yml")["awx_credential_types"] if "Kubeconfig" in t["name"])
    assert kube["injectors"]["env"]["K8S_AUTH_KUBECONFIG"] == "{{ tower.filename.kubeconfig }}"
    assert "template.kubeconfig" in kube["injectors"]["file"]
    assert next(f for f in kube["inputs"]["fields"] if f["id"] == "kubeconfig")["secret"] is True
