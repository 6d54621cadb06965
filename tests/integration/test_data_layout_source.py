"""data_layout checks the datasets on the controller before it creates or copies anything (issue 21), with the
real role, module and files on this machine's file system (the controller and the node are one here)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from playbooks import run_playbook

DATASETS = Path(__file__).resolve().parents[1] / "fixtures" / "datasets"


def inventory(tmp_path, source, pathologies):
    variables = {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "data_layout_root": str(tmp_path / "data"), "data_layout_federation": "dementia",
        "data_layout_source_path": str(source), "data_layout_pathologies": pathologies,
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": {"node": variables}}}))
    return path


def play():
    return [{"hosts": "node", "gather_facts": False, "roles": ["sciplat.k8s.data_layout"]}]


def test_bad_data_stops_the_run_before_the_node_is_touched(tmp_path):
    hosts = inventory(tmp_path, DATASETS / "bad", ["unknown_column", "no_dataset_column"])
    for args in ((), ("--check",)):
        run = run_playbook(play(), {}, *args, workdir=tmp_path, inventory=hosts, expect_rc=2)
        assert "Check each pathology's datasets on the controller before they are copied" in run.output
        assert 'unknown_column/site1.csv' in run.output and 'is not a CDE code' in run.output
        assert "no_dataset_column" in run.output
        assert run.recap["node"]["changed"] == 0
        assert not (tmp_path / "data").exists(), f"the data root was created ({args or 'real run'})"


def test_good_data_passes_the_controller_check_and_check_mode_predicts_the_copy(tmp_path):
    hosts = inventory(tmp_path, DATASETS / "good", ["neuro"])
    checked = run_playbook(play(), {}, "--check", workdir=tmp_path, inventory=hosts)
    assert checked.recap["node"]["changed"] > 0
    assert not (tmp_path / "data").exists()
    run_playbook(play(), {}, workdir=tmp_path, inventory=hosts)
    assert (tmp_path / "data" / "dementia" / "neuro" / "CDEsMetadata.json").is_file()
    assert run_playbook(play(), {}, workdir=tmp_path, inventory=hosts).recap["node"]["changed"] == 0
