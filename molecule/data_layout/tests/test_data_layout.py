"""Verify the data_layout role on the node containers: ownership, what UID 10001 can really read,
the dataset_check summary, failures on bad fixture datasets and on bad role input."""
import csv
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import testinfra
from testinfra.modules.ansible import AnsibleException

ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
FIXTURES = ROOT / "tests/fixtures/datasets"
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
FEDERATION = "/data/dementia"
# datanode1 has data_layout_subfolder: csvs (the Exaflow chart's layout), datanode2 none (seed 001's).
DATA = {"datanode1": FEDERATION + "/csvs", "datanode2": FEDERATION}
PATHOLOGIES = {"datanode1": ["neuro", "tbi"], "datanode2": ["neuro"]}
ENGINE = "setpriv --reuid 10001 --regid 10001 --clear-groups"


def name(host):
    return host.backend.get_hostname()


@pytest.fixture
def node(host):
    """The same container through podman exec: each file check costs milliseconds instead of an ansible run."""
    return testinfra.get_host("podman://" + name(host))


def fixture_files(pathology):
    return sorted(p for p in (FIXTURES / "good" / pathology).iterdir() if p.is_file())


def fixture_rows(pathology):
    """Rows per dataset counted here with the csv module, independently of the module under test."""
    rows = {}
    for path in fixture_files(pathology):
        if path.suffix != ".csv":
            continue
        with path.open(newline="") as handle:
            first = handle.readline()
            reader = csv.DictReader(handle, fieldnames=next(csv.reader([first], delimiter=";" if ";" in first else ",")),
                                    delimiter=";" if ";" in first else ",")
            for row in reader:
                rows[row["dataset"]] = rows.get(row["dataset"], 0) + 1
    return rows


def test_folders_owned_and_moded_for_the_engine(host, node):
    assert node.file("/data").mode == 0o755
    data = DATA[name(host)]
    for path in sorted({FEDERATION, data}) + [f"{data}/{p}" for p in PATHOLOGIES[name(host)]]:
        folder = node.file(path)
        assert folder.is_directory, path
        assert (folder.user, folder.gid, folder.mode) == ("root", 10001, 0o750), path


def test_files_are_the_fixtures_and_readable_only_through_the_group(host, node):
    for pathology in PATHOLOGIES[name(host)]:
        for source in fixture_files(pathology):
            target = node.file(f"{DATA[name(host)]}/{pathology}/{source.name}")
            assert target.sha256sum == hashlib.sha256(source.read_bytes()).hexdigest(), target.path
            assert (target.user, target.gid, target.mode) == ("root", 10001, 0o640), target.path


def test_engine_uid_can_really_read_every_file_and_others_cannot(host, node):
    for pathology in PATHOLOGIES[name(host)]:
        folder = f"{DATA[name(host)]}/{pathology}"
        for source in fixture_files(pathology):
            assert node.run(f"{ENGINE} cat {folder}/{source.name}").rc == 0, source.name
        assert node.run(f"{ENGINE} ls {folder}").rc == 0
        nobody = node.run(f"setpriv --reuid 65534 --regid 65534 --clear-groups ls {folder}")
        assert nobody.rc != 0 and "Permission denied" in nobody.stderr


def test_hard_links_share_the_source_inodes(host, node):
    if name(host) != "datanode2":
        pytest.skip("datanode2 uses node_hardlink")
    for source in fixture_files("neuro"):
        linked = node.run(f"stat -c '%i %h' /srv/mipdata/neuro/{source.name} {DATA['datanode2']}/neuro/{source.name}").stdout.split("\n")
        assert linked[0] == linked[1] and linked[0].split()[1] == "2", source.name


def test_dataset_check_summary_matches_the_fixtures(host):
    result = host.ansible("sciplat.k8s.dataset_check", f"path={DATA[name(host)]}", check=False)
    assert result["changed"] is False and result["valid"] is True
    expected = {}
    for pathology in PATHOLOGIES[name(host)]:
        expected.update(fixture_rows(pathology))
    assert {item["code"]: item["rows"] for item in result["datasets"]} == expected
    assert sorted(model["folder"] for model in result["data_models"]) == PATHOLOGIES[name(host)]


def copy_to_node(host, source, dest):
    host.ansible("ansible.builtin.copy", f"src={source}/ dest={dest}/ mode=0644 directory_mode=0755", check=False)


def dataset_check_failure(host, path):
    """The module's failure result (testinfra raises for some ansible versions and returns it for others)."""
    try:
        result = host.ansible("sciplat.k8s.dataset_check", f"path={path}", check=False)
    except AnsibleException as exc:
        result = exc.result
    assert result["msg"].startswith(f"{len(result['errors'])} problem(s) in the data folder {path}:")
    return result


def test_bad_fixture_datasets_fail_with_file_line_and_fix(host):
    if name(host) != "datanode1":
        pytest.skip("once is enough")
    copy_to_node(host, FIXTURES / "bad", "/tmp/bad")
    result = dataset_check_failure(host, "/tmp/bad")
    assert result["valid"] is False
    where = {(item["file"], item["line"], item["column"]) for item in result["errors"]}
    assert ("/tmp/bad/unknown_column/site1.csv", 1, 3) in where
    assert ("/tmp/bad/invalid_json/CDEsMetadata.json", 7, 112) in where
    assert ("/tmp/bad/bad_values/site1.csv", 3, 2) in where
    assert ("/tmp/bad/missing_metadata", None, None) in where
    assert all(item["fix"] for item in result["errors"])
    assert "/tmp/bad/bad_values/site1.csv:3:2: Value \"abc\" of column \"age\" is not an integer." in result["msg"]


def test_unreadable_file_is_reported_and_really_unreadable(host, node):
    if name(host) != "datanode1":
        pytest.skip("once is enough")
    copy_to_node(host, FIXTURES / "good" / "tbi", "/tmp/perm/tbi")
    node.run_expect([0], "chmod 0600 /tmp/perm/tbi/icu_north.csv")
    assert node.run(f"{ENGINE} cat /tmp/perm/tbi/icu_north.csv").rc != 0
    result = dataset_check_failure(host, "/tmp/perm")
    assert [(item["file"], item["message"][:32]) for item in result["errors"]] == [
        ("/tmp/perm/tbi/icu_north.csv", "UID 10001 cannot read this file ")]


def message(result):
    """A task's failure message; a loop's comes from its failed items."""
    items = [item.get("msg", "") for item in result.get("results", []) if item.get("failed")]
    return "\n".join([result.get("msg", "")] + items)


def run_role(*extra):
    """Runs the role on datanode1 with extra vars (they override the inventory); returns (rc, failed tasks)."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", "datanode1",
               str(SCENARIO / "converge.yml")]
    for value in extra:
        command += ["-e", json.dumps(value)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    report = json.loads(proc.stdout)
    # Task names come as "<role> : <task>".
    failed = [(task["task"]["name"].split(" : ")[-1], message(result))
              for play in report["plays"] for task in play["tasks"]
              for result in task["hosts"].values() if result.get("failed") and not result.get("skipped")]
    return proc.returncode, failed


@pytest.mark.parametrize("bad, variable", [
    ({"data_layout_federation": "fresh", "data_layout_pathologies": ["../etc"]}, "data_layout_pathologies"),
    ({"data_layout_federation": "fresh", "data_layout_pathologies": ["a/b"]}, "data_layout_pathologies"),
    ({"data_layout_federation": "Fresh_Federation"}, "data_layout_federation"),
    ({"data_layout_federation": "fresh", "data_layout_subfolder": "../csvs"}, "data_layout_subfolder"),
    ({"data_layout_federation": "fresh", "data_layout_root": "data"}, "data_layout_root"),
    ({"data_layout_federation": "fresh", "data_layout_dir_mode": "0700"}, "data_layout_dir_mode"),
    # A group name is resolved on the node: nogroup is GID 65534, so only the others bits would apply.
    ({"data_layout_federation": "fresh", "data_layout_group": "nogroup"}, "data_layout_group nogroup (GID 65534)"),
    ({"data_layout_federation": "fresh", "data_layout_source_path": "/nonexistent"}, "data_layout_source_path"),
])
def test_bad_role_input_fails_before_any_change(host, node, bad, variable):
    if name(host) != "datanode1":
        pytest.skip("the playbook runs against datanode1")
    rc, failed = run_role(bad)
    assert rc == 2
    [(task, message)] = failed
    assert task.startswith("Validate") and variable in message, failed
    assert not node.file("/data/fresh").exists and not node.file("/data/Fresh_Federation").exists


def test_bad_dataset_in_the_source_fails_the_role_before_the_node_is_touched(host, node):
    if name(host) != "datanode1":
        pytest.skip("the playbook runs against datanode1")
    rc, failed = run_role({"data_layout_federation": "broken", "data_layout_pathologies": ["unknown_column"],
                           "data_layout_source_path": str(FIXTURES / "bad")})
    assert rc == 2
    [(task, message)] = failed
    assert task == "Check each pathology's datasets on the controller before they are copied"
    source_csv = FIXTURES / "bad" / "unknown_column" / "site1.csv"
    assert f'{source_csv}:1:3: Column "agee" is not a CDE code' in message
    assert not node.file("/data/broken").exists
