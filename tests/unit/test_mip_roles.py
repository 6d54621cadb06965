"""Role interfaces of helm_release, exaflow and mip: defaults and argument specs tell the same story."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"


def load(path: Path):
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("role", ["helm_release", "exaflow", "mip"])
def test_every_default_is_specified_with_the_same_literal_value(role):
    defaults = load(ROLES / role / "defaults" / "main.yml")
    options = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(set(defaults) - set(options)) == []
    unset = [name for name, spec in options.items() if name not in defaults and not spec.get("required")]
    assert unset == []
    differing = {name: (defaults[name], spec["default"]) for name, spec in options.items()
                 if name in defaults and "default" in spec and "{{" not in str(defaults[name])
                 and defaults[name] != spec["default"]}
    assert differing == {}


@pytest.mark.parametrize("role", ["helm_release", "exaflow", "mip"])
def test_variables_carry_the_role_prefix(role):
    defaults = load(ROLES / role / "defaults" / "main.yml")
    assert [name for name in defaults if not name.startswith(role + "_")] == []
    internal = load(ROLES / role / "vars" / "main.yml")
    assert [name for name in internal if not name.startswith(f"__{role}_")] == []


def test_mip_generation_files_are_listed_and_complete():
    listed = load(ROLES / "mip" / "vars" / "main.yml")["__mip_generations"]
    files = sorted(p.stem for p in (ROLES / "mip" / "vars" / "generations").glob("*.yml"))
    assert sorted(listed) == files
    spec = load(ROLES / "mip" / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(spec["mip_chart_generation"]["choices"]) == files
    for name in files:
        generation = load(ROLES / "mip" / "vars" / "generations" / f"{name}.yml")["__mip_generation"]
        assert generation["name"] == name
        assert set(generation) == {"name", "chart", "values", "boolean_keys", "paths", "secrets"}
        assert len(generation["chart"]["commit"]) == 40
        assert set(generation["paths"]) >= {"managed", "public_host", "storage_class_local", "ingress_enabled",
                                            "ingress_class", "notebook_enabled", "keycloak_enabled",
                                            "keycloak_host", "crypt_key"}
        for secret in generation["secrets"]:
            assert set(secret) == {"name", "enabled", "initial", "generated", "provided"}
