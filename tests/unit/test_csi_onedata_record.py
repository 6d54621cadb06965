"""The hand-written record of csi-onedata's manifests (tests/fixtures/charts/csi_onedata.yml).

csi-onedata is the one upstream source the offline copy does not hold, so its facts stay a record, read with the
search tool (docs/charts.md). These tests keep the record pinned and hold the collection to it.
"""
import pathlib
import re

import yaml

from ansible_collections.sciplat.k8s.plugins.module_utils.onedata import DEFAULT_SECRET_KEYS

RECORD = yaml.safe_load((pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "charts" / "csi_onedata.yml").read_text())
COMMIT = re.compile(r"^[0-9a-f]{40}$")


def test_source_is_pinned_file_by_file():
    assert RECORD["repository"] == "CERIT-SC/csi-onedata" and RECORD["path"] == "deploy/kubernetes"
    assert COMMIT.match(RECORD["commit"])
    assert RECORD["files_read"]
    for path_read, commit in RECORD["files_read"].items():
        assert COMMIT.match(commit.split()[0]), path_read


def test_the_secrets_the_collection_writes_have_the_drivers_keys():
    assert sorted(DEFAULT_SECRET_KEYS.values()) == sorted(RECORD["secret_keys"])


def test_volumes_name_the_drivers_class_and_driver():
    volume = RECORD["persistent_volume"]
    assert volume["csi"]["driver"] == RECORD["driver_name"] == "csi-onedata"
    assert volume["storageClassName"] == RECORD["storage_class"]["name"]
