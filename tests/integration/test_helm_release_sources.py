"""Chart sources of roles/helm_release through the chart mirror, on the real upstream material.

Real parts: ansible-playbook, git, helm 3, the test kube-apiserver, and the upstream repositories and chart
repository of SCIPLAT_UPSTREAM through the mirror of tests/upstream/mirror.py (the chart repository is
served on 127.0.0.1; its index still names the real host, which the mirror rewrites). Each refusal is checked
to leave the cluster untouched: no namespace, no release.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from k8s_support import get, helm_json, helm_uninstall, kubectl
from playbooks import run_playbook

CYTOMINE = "https://github.com/cytomine/cytomine-helm.git"
CYTOMINE_COMMIT = "9dd07c5465a02e1398f1def7593d59ea8ed982f4"
DATALAB = "https://github.com/NERC-CEH/datalab-k8s-manifests.git"
DATALAB_COMMIT = "2aea8cdf5bac26ae57602ccccf6ca108d47e1cb5"
NERC_CEH = "https://nerc-ceh.github.io/charts"
NAMESPACE = "srcit"


@pytest.fixture
def cluster(k8s_cluster):
    yield k8s_cluster
    helm_uninstall(k8s_cluster, "catalogue", NAMESPACE)
    kubectl(k8s_cluster, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)


def release(cluster, tmp_path, settings, *args, expect_rc=0, tasks_from="main"):
    """helm_release with `settings` (and the cache in tmp_path unless given), from the controller."""
    variables = {"helm_release_name": "catalogue", "helm_release_namespace": NAMESPACE,
                 "helm_release_chart_cache_dir": str(tmp_path / "cache"), "helm_release_binary_path": str(cluster.helm),
                 "helm_release_wait": False, "helm_release_atomic": False, **settings}
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "release", "ansible.builtin.include_role": {"name": "sciplat.k8s.helm_release", "tasks_from": tasks_from},
         "vars": variables}]}]
    return run_playbook(play, cluster.env, *args, workdir=tmp_path, expect_rc=expect_rc)


def flat(text: str) -> str:
    return " ".join(text.split())


def assert_untouched(cluster):
    assert get(cluster, "namespace", NAMESPACE) is None
    assert helm_json(cluster, "status", "catalogue", "-n", NAMESPACE) is None


def git_source(commit=CYTOMINE_COMMIT, subpath="charts/cytomine", repo=CYTOMINE):
    return {"helm_release_chart_source": "git", "helm_release_chart_git_repo": repo,
            "helm_release_chart_git_commit": commit, "helm_release_chart_git_subpath": subpath,
            "helm_release_settings_prefix": "cytomine_chart"}


def test_a_pin_the_repository_lacks_is_refused_and_its_clone_removed(cluster, chart_mirror, tmp_path):
    # The Cytomine role's former pin: a pull request's commit, not on main.
    wrong = "4e0aa9bf62e879318b243a0a7b2900979cc7bcc9"
    result = release(cluster, tmp_path, {**git_source(commit=wrong), "sciplat_chart_mirror": chart_mirror},
                     expect_rc=2)
    out = flat(result.output)
    assert f"commit {wrong} of {CYTOMINE} (cloned from the mirror {chart_mirror['git'][CYTOMINE]}) cannot be checked out" in out
    assert "Check cytomine_chart_git_commit (a full commit of that repository) and cytomine_chart_git_repo" in out
    assert list((tmp_path / "cache").glob("*")) == []
    assert_untouched(cluster)


def test_a_subpath_without_a_chart_is_refused(cluster, chart_mirror, tmp_path):
    # The Scipion charts are in scipion-docker/v1.0 and /v2.0, not in scipion-docker.
    settings = git_source(repo="https://github.com/CERIT-SC/scipion-helm-charts.git",
                          commit="2005624447192233a29866eb086d86cc3e6c5723", subpath="scipion-docker")
    result = release(cluster, tmp_path, {**settings, "sciplat_chart_mirror": chart_mirror}, expect_rc=2)
    assert "has no Chart.yaml: check cytomine_chart_git_subpath ('scipion-docker') against the repository at " \
           "2005624447192233a29866eb086d86cc3e6c5723" in flat(result.output)
    assert_untouched(cluster)


def test_a_mirror_folder_that_does_not_exist_is_refused(cluster, tmp_path):
    pin = f"{CYTOMINE}@{CYTOMINE_COMMIT}"
    result = release(cluster, tmp_path, {**git_source(), "sciplat_chart_mirror": {"folders": {pin: "/nonexistent/cytomine"}}},
                     expect_rc=2)
    assert f"sciplat_chart_mirror.folders['{pin}'] is /nonexistent/cytomine, which is not a folder on localhost" \
        in flat(result.output)
    assert_untouched(cluster)


@pytest.mark.parametrize("bad, message", [
    ({"svn": {}}, "sciplat_chart_mirror must be a mapping with at most the sections git"),
    ({"git": ["https://github.com/"]}, "each mapping strings to strings"),
    ({"folders": {f"{CYTOMINE}@{CYTOMINE_COMMIT}": "relative/folder"}}, "folders ({<repository URL>@<commit>: <absolute folder>})"),
])
def test_a_malformed_mirror_is_refused(cluster, tmp_path, bad, message):
    result = release(cluster, tmp_path, {**git_source(), "sciplat_chart_mirror": bad}, expect_rc=2)
    assert message in flat(result.output)
    assert_untouched(cluster)


def test_dependencies_are_built_from_the_mirrored_chart_repository(cluster, chart_mirror, tmp_path):
    """The Datalabs chart declares metadata-catalogue 1.15.0 from nerc-ceh and does not vendor it."""
    settings = {**git_source(repo=DATALAB, commit=DATALAB_COMMIT, subpath="helm/datalab"),
                "sciplat_chart_mirror": chart_mirror}
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "prepare", "ansible.builtin.include_role": {"name": "sciplat.k8s.helm_release", "tasks_from": "source"},
         "vars": {"helm_release_name": "datalab", "helm_release_namespace": NAMESPACE,
                  "helm_release_chart_cache_dir": str(tmp_path / "cache"), "helm_release_binary_path": str(cluster.helm),
                  **settings}},
        # The test's own record of the result, not part of what is measured.
        {"name": "show", "ansible.builtin.copy": {"content": "{{ __helm_release_chart | to_json }}",
                                                  "dest": str(tmp_path / "chart.json"), "mode": "0600"},
         "changed_when": False}]}]
    first = run_playbook(play, cluster.env, workdir=tmp_path)
    chart = yaml.safe_load((tmp_path / "chart.json").read_text())
    assert chart["dependencies"] == [{"name": "metadata-catalogue", "version": "1.15.0", "repository": NERC_CEH,
                                      "fetched_from": chart_mirror["chart_repos"][NERC_CEH]}]
    assert [p.name for p in (Path(chart["path"]) / "charts").iterdir()] == ["metadata-catalogue-1.15.0.tgz"]
    assert not (Path(chart["path"]).parent.parent / "datalab").exists()
    assert first.changed >= 1
    # The clone and the built copy are reused: nothing is fetched or built again.
    assert run_playbook(play, cluster.env, workdir=tmp_path).changed == 0

    # Without the chart repository mirror, the build is refused before anything is deployed.
    no_repos = {**chart_mirror, "chart_repos": {}}
    elsewhere = tmp_path / "no-repository-mirror"
    elsewhere.mkdir()
    refused = release(cluster, elsewhere, {**settings, "sciplat_chart_mirror": no_repos,
                                           "helm_release_settings_prefix": "datalab_chart"}, expect_rc=2)
    out = flat(refused.output)
    assert f"could not read the chart repository index {NERC_CEH}/index.yaml" in out
    assert "a site without access to them maps them in sciplat_chart_mirror.chart_repos" in out
    assert_untouched(cluster)


def test_a_pinned_chart_from_a_repository_is_pulled_through_the_mirror_and_installed(cluster, chart_mirror, tmp_path):
    settings = {"helm_release_chart_source": "repo", "helm_release_chart_repo_url": NERC_CEH,
                "helm_release_chart_name": "metadata-catalogue", "helm_release_chart_version": "1.15.0",
                "sciplat_chart_mirror": chart_mirror,
                # What the chart's templates require.
                "helm_release_values": {"claimName": {"catalogue": "catalogue", "datastore": "datastore"},
                                        "crowd": {"username": "catalogue"}, "hostname": "catalogue.example.org",
                                        "imageTag": {"catalogue": "1.0.0"}, "server": "https://catalogue.example.org"}}
    first = release(cluster, tmp_path, settings)
    assert f"chart metadata-catalogue-1.15.0 from {NERC_CEH} metadata-catalogue 1.15.0 (mirror: " \
           f"{chart_mirror['chart_repos'][NERC_CEH]})" in flat(first.output)
    status = helm_json(cluster, "status", "catalogue", "-n", NAMESPACE)
    assert status["info"]["status"] == "deployed"
    assert get(cluster, "deployment", "catalogue", "-n", NAMESPACE)["metadata"]["annotations"][
        "meta.helm.sh/release-name"] == "catalogue"
    assert release(cluster, tmp_path, settings).changed == 0
    assert release(cluster, tmp_path, settings, "--check").changed == 0

    unpinned = release(cluster, tmp_path, {**settings, "helm_release_chart_version": "",
                                           "helm_release_settings_prefix": "datalab_chart"}, expect_rc=2)
    assert "datalab_chart_repo_url, datalab_chart_name and datalab_chart_version (an exact version: a pin)" in \
        flat(unpinned.output)
