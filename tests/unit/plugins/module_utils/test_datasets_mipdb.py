# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dataset checker against MIP's own loader: ``mipdb validate-folder`` (madgik/mipdb) on the same fixtures.

mipdb runs as a process from its own venv (requirements-mipdb.txt, made by scripts/lib.sh); its folder
validation needs no database. It stops at the first fault, the checker lists them all, so each fixture is
compared on the verdict and on the fault mipdb names. Three rules differ, each in a test of its own below:
mipdb wants a "type" on every CDE and comma-separated CSV files, and lets a dataset span CSV files. The
other fixtures are compared on copies that carry the "type" and use commas, so that each shows its own fault.
mipdb 3.0.5 stops with FileNotFoundError on a folder without CDEsMetadata.json (newer releases skip it
silently, as the Exaflow worker does; the checker reports it on purpose).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import io
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.sciplat.k8s.plugins.module_utils import datasets

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures', 'datasets')
# MIP's CDE "type" for the sql_type of a non-categorical CDE; categorical ones are "nominal".
MIP_TYPES = {'int': 'integer', 'real': 'real'}


# Runs mipdb's own "validate-folder" command on each folder in one process (mipdb takes seconds to import):
# prints {folder: [exit code, output]}. A fault mipdb does not handle ends its command with a traceback
# and exit code 1; here it is printed as "<exception>: <message>" instead.
DRIVER = """
import contextlib, io, json, sys
from mipdb.commands import validate_folder
verdicts = {}
for folder in sys.argv[1:]:
    output, code = io.StringIO(), 0
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        try:
            validate_folder.main([folder], standalone_mode=False)
        except SystemExit as exc:
            code = exc.code
        except Exception as exc:
            code = 1
            print('%s: %s' % (type(exc).__name__, exc))
    verdicts[folder] = [code, output.getvalue()]
json.dump(verdicts, sys.stdout)
"""


def mipdb_python():
    """The Python of the venv that scripts/lib.sh makes for mipdb: $SCIPLAT_CACHE/mipdb-<pinned version>."""
    with open(os.path.join(ROOT, 'requirements-mipdb.txt')) as handle:
        version = next(line.strip().split('==')[1] for line in handle if line.startswith('mipdb=='))
    cache = os.environ.get('SCIPLAT_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'sciplat-k8s')
    return os.path.join(cache, 'mipdb-' + version, 'bin', 'python')


def _add_types(node):
    for variable in node.get('variables', []):
        mip_type = 'nominal' if variable.get('isCategorical') else MIP_TYPES.get(variable.get('sql_type'), 'text')
        variable.setdefault('type', mip_type)
    for group in node.get('groups', []):
        _add_types(group)


def _rewrite_with_commas(path):
    with open(path, newline='') as handle:
        text = handle.read()
    dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=',;')
    rows = list(csv.reader(io.StringIO(text), dialect))
    with open(path, 'w', newline='') as handle:
        csv.writer(handle, lineterminator='\n').writerows(rows)


def federation(base, fixture, add_types=True, commas=True):
    """A data folder holding a copy of one fixture data model, by default without the format differences."""
    target = base / os.path.basename(fixture)
    shutil.copytree(os.path.join(FIXTURES, fixture), str(target))
    metadata = target / datasets.METADATA_FILE
    if add_types and metadata.is_file():
        try:
            document = json.loads(metadata.read_text())
        except ValueError:
            pass  # the invalid_json fixture stays as broken as it is
        else:
            _add_types(document)
            metadata.write_text(json.dumps(document, indent=2))
    if commas:
        for path in target.glob('*.csv'):
            _rewrite_with_commas(str(path))
    return target.parent


def checked(folder):
    # mipdb knows nothing of the engine's UID: the access check stays out of the comparison.
    result = datasets.check_data_folder(str(folder), uid=os.getuid())
    return result['valid'], [datasets.format_issue(item) for item in result['errors']]


# Fixture, the fault mipdb names first, and how the checker names the same fault.
AGREEMENT = [
    ('good/neuro', None, None),
    ('good/tbi', None, None),
    ('bad/bad_cdes', "The CDE sex has 'is_categorical' set to True but there are no enumerations.",
     'Categorical CDE "sex" has no "enumerations".'),
    ('bad/bad_values', "An error occurred while validating the csv on column: 'age'",
     'site1.csv:3:2: Value "abc" of column "age" is not an integer.'),
    ('bad/invalid_json', 'Unable to decode json file. Expecting value: line 7 column 112',
     'CDEsMetadata.json:7:112: Invalid JSON: Expecting value.'),
    ('bad/missing_metadata', 'FileNotFoundError: [Errno 2] No such file or directory',
     'missing_metadata: No CDEsMetadata.json: the engine ignores this folder.'),
    ('bad/no_dataset_column', "The 'dataset' column is required to exist in the csv.",
     'site1.csv:1: The header has no "dataset" column.'),
    ('bad/no_version', 'You need to include a version on the CDEsMetadata.json', 'Key "version" is missing or empty'),
    ('bad/unknown_column', "Columns:{'agee'} are not present in the CDEs",
     'site1.csv:1:3: Column "agee" is not a CDE code declared in CDEsMetadata.json.'),
]
# Every folder both are given: a name, the fixture, whether its copy gets the "type"s and commas.
CASES = [(fixture, fixture, True, True) for fixture, dummy, dummy in AGREEMENT] + [
    ('good/neuro without type', 'good/neuro', False, True),
    ('good/tbi without type', 'good/tbi', False, True),
    ('good/neuro with semicolons', 'good/neuro', True, False),
    ('bad/split_dataset', 'bad/split_dataset', True, True),
]


@pytest.fixture(scope='module')
def verdicts(tmp_path_factory):
    """{case name: (data folder, mipdb's exit code, mipdb's output)}, from one mipdb process."""
    python = mipdb_python()
    if not os.access(python, os.X_OK):
        pytest.fail('%s is missing: scripts/setup.sh makes it from requirements-mipdb.txt.' % python)
    root = tmp_path_factory.mktemp('mipdb')
    folders = dict((name, federation(root / str(index), fixture, add_types, commas))
                   for index, (name, fixture, add_types, commas) in enumerate(CASES))
    done = subprocess.run([python, '-c', DRIVER] + [str(folder) for folder in folders.values()],
                          capture_output=True, text=True, timeout=300, check=True)
    answers = json.loads(done.stdout)
    return dict((name, (folder,) + tuple(answers[str(folder)])) for name, folder in folders.items())


def test_every_fixture_is_compared():
    present = set('%s/%s' % (kind, name) for kind in ('good', 'bad') for name in os.listdir(os.path.join(FIXTURES, kind)))
    assert set(fixture for dummy, fixture, dummy, dummy in CASES) == present


@pytest.mark.parametrize('fixture,mipdb_says,checker_says', AGREEMENT, ids=[case[0] for case in AGREEMENT])
def test_mipdb_and_the_checker_agree(verdicts, fixture, mipdb_says, checker_says):
    folder, returncode, output = verdicts[fixture]
    valid, errors = checked(folder)
    if mipdb_says is None:
        assert (returncode, valid, errors) == (0, True, []), output
    else:
        assert returncode != 0 and mipdb_says in output, output
        assert not valid
        assert any(checker_says in error for error in errors), errors


# --- where they differ, and why ---------------------------------------------------------------------

@pytest.mark.parametrize('fixture', ['good/neuro', 'good/tbi'])
def test_difference_mipdb_wants_a_type_on_every_cde(verdicts, fixture):
    """mipdb's validate_metadata requires "type" (nominal, real, integer or text) on every CDE; the Exaflow
    worker that the collection deploys types its columns from sql_type and isCategorical and never reads
    "type", so the checker accepts a data model without it (such a folder would not load into an older,
    mipdb-fed MIP)."""
    folder, returncode, output = verdicts[fixture + ' without type']
    assert returncode != 0 and 'Element: type is missing from the CDE dataset' in output, output
    assert checked(folder) == (True, [])


def test_difference_mipdb_reads_only_commas(verdicts):
    """mipdb reads every CSV with pandas' default comma, so the ;-separated clinic_b.csv has no "dataset"
    column for it; the Exaflow worker lets DuckDB sniff the delimiter, and so does the checker."""
    folder, returncode, output = verdicts['good/neuro with semicolons']
    assert returncode != 0, output
    assert "clinic_b.csv' is being validated" in output and "The 'dataset' column is required" in output
    assert checked(folder) == (True, [])


def test_difference_mipdb_lets_a_dataset_span_csv_files(verdicts):
    """mipdb validates each CSV file alone and imports both into one table; the Exaflow worker refuses a
    dataset code found in two CSV files of a data model (ValueError in duck_db_csv_loader), so the checker does."""
    folder, returncode, output = verdicts['bad/split_dataset']
    valid, errors = checked(folder)
    assert returncode == 0, output
    assert not valid
    assert any('Dataset "site1" is also in' in error for error in errors), errors
