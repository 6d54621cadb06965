# -*- coding: utf-8 -*-
"""The data-folder checks against the fixture datasets in tests/fixtures/datasets and small temporary trees."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os
import shutil
import stat

import pytest

from ansible_collections.sciplat.k8s.plugins.module_utils import datasets

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'datasets')
GOOD = os.path.abspath(os.path.join(FIXTURES, 'good'))
BAD = os.path.abspath(os.path.join(FIXTURES, 'bad'))


def errors_in(result, folder):
    prefix = os.path.join(result['data_folder'], folder)
    return [item for item in result['errors'] if item['file'] == prefix or item['file'].startswith(prefix + os.sep)]


@pytest.fixture(scope='module')
def bad_result():
    # The fixture files are world-readable in git checkouts; the access check is covered below.
    return datasets.check_data_folder(BAD, gids=[os.stat(BAD).st_gid])


@pytest.fixture
def good_copy(tmp_path):
    target = tmp_path / 'federation'
    shutil.copytree(GOOD, str(target))
    return target


def test_good_fixture_summary():
    result = datasets.check_data_folder(GOOD)
    assert result['errors'] == []
    assert result['valid'] is True
    models = {model['folder']: model for model in result['data_models']}
    assert sorted(models) == ['neuro', 'tbi']
    neuro = models['neuro']
    assert (neuro['code'], neuro['version'], neuro['cdes'], neuro['rows']) == ('neuro', '1.0', 7, 8)
    assert [(item['code'], item['rows'], os.path.basename(item['csv'])) for item in neuro['datasets']] == [
        ('clinic_a', 5, 'clinic_a.csv'), ('clinic_b', 3, 'clinic_b.csv')]
    delimiters = {os.path.basename(item['file']): item['delimiter'] for item in neuro['csv_files']}
    assert delimiters == {'clinic_a.csv': ',', 'clinic_b.csv': ';'}
    assert models['tbi']['longitudinal'] is True
    assert [(item['data_model'], item['code']) for item in result['datasets']] == [
        ('neuro:1.0', 'clinic_a'), ('neuro:1.0', 'clinic_b'), ('tbi:0.3', 'icu_north')]
    assert result['rows'] == 12


def test_unknown_column_names_line_column_and_closest_cde(bad_result):
    [item] = errors_in(bad_result, 'unknown_column')
    assert (os.path.basename(item['file']), item['line'], item['column']) == ('site1.csv', 1, 3)
    assert '"agee" is not a CDE code' in item['message']
    assert 'did you mean "age"' in item['fix']


def test_missing_dataset_column(bad_result):
    [item] = errors_in(bad_result, 'no_dataset_column')
    assert item['line'] == 1 and 'no "dataset" column' in item['message']


def test_invalid_json_points_at_the_syntax_error(bad_result):
    [item] = errors_in(bad_result, 'invalid_json')
    assert os.path.basename(item['file']) == 'CDEsMetadata.json'
    assert (item['line'], item['column']) == (7, 112)
    assert item['message'].startswith('Invalid JSON')


def test_folder_without_metadata_is_reported(bad_result):
    [item] = errors_in(bad_result, 'missing_metadata')
    assert 'No CDEsMetadata.json' in item['message']


def test_metadata_without_version_is_reported_since_the_engine_would_skip_it(bad_result):
    [item] = errors_in(bad_result, 'no_version')
    assert '"version" is missing' in item['message'] and 'skips' in item['message']


def test_row_values(bad_result):
    found = [(item['line'], item['column'], item['message']) for item in errors_in(bad_result, 'bad_values')]
    assert found == [
        (3, 2, 'Value "abc" of column "age" is not an integer.'),
        (4, 2, 'Value 130 of column "age" is outside [0, 120].'),
        (5, 3, 'Value "X" of column "sex" is not one of its enumerations.'),
        (6, None, 'Row has 2 fields, the header has 3.'),
        (7, 1, 'The "dataset" field is empty.'),
        (8, 1, 'Dataset "site9" is not an enumeration of the "dataset" CDE.'),
    ]


def test_dataset_split_over_two_files(bad_result):
    [item] = errors_in(bad_result, 'split_dataset')
    assert os.path.basename(item['file']) == 'part2.csv'
    assert 'part1.csv' in item['message']


def test_metadata_errors_point_at_the_cde(bad_result):
    found = [(item['line'], item['message'].split(' (at ')[0]) for item in errors_in(bad_result, 'bad_cdes')
             if item['file'].endswith('.json')]
    assert found == [
        (5, 'CDE "age" has sql_type "float".'),
        (6, 'Categorical CDE "sex" has no "enumerations".'),
        (7, 'CDE code "2nd-score" is missing or not an identifier (letters, digits, "_", not starting with a digit).'),
        (8, 'CDE "weight" has minValue 200 >= maxValue 20.'),
        (9, 'CDE code "age" is declared twice (first at /variables/0).'),
        (1, 'There is no "dataset" CDE.'),
    ]


def test_every_bad_folder_is_reported(bad_result):
    assert bad_result['valid'] is False
    folders = sorted(os.listdir(BAD))
    assert [folder for folder in folders if not errors_in(bad_result, folder)] == []


def test_value_checks_can_be_switched_off():
    result = datasets.check_data_folder(BAD, check_values=False, gids=[os.stat(BAD).st_gid])
    lines = [item['line'] for item in errors_in(result, 'bad_values')]
    assert lines == [6, 7, 8]


def test_expected_data_model_missing(good_copy):
    result = datasets.check_data_folder(str(good_copy), expected=['neuro', 'epilepsy'])
    [item] = result['errors']
    assert item['file'] == str(good_copy / 'epilepsy') and 'missing' in item['message']


def test_empty_federation_folder(tmp_path):
    os.chmod(str(tmp_path), 0o755)
    result = datasets.check_data_folder(str(tmp_path))
    assert [item['message'] for item in result['errors']] == ['No data-model folder was found.']


def test_absent_federation_folder(tmp_path):
    result = datasets.check_data_folder(str(tmp_path / 'absent'))
    assert result['valid'] is False and 'does not exist' in result['errors'][0]['message']


def test_root_folder_is_a_data_model_like_for_the_engine(tmp_path):
    os.chmod(str(tmp_path), 0o755)
    for name in ('CDEsMetadata.json', 'icu_north.csv'):
        shutil.copy(os.path.join(GOOD, 'tbi', name), str(tmp_path / name))
    result = datasets.check_data_folder(str(tmp_path))
    assert result['errors'] == []
    assert [model['code'] for model in result['data_models']] == ['tbi']


def test_same_code_and_version_in_two_folders(good_copy):
    shutil.copytree(str(good_copy / 'tbi'), str(good_copy / 'tbi_copy'))
    result = datasets.check_data_folder(str(good_copy))
    [item] = result['errors']
    assert 'tbi:0.3 is also in' in item['message']


def test_upper_case_csv_suffix_is_a_warning(good_copy):
    os.rename(str(good_copy / 'tbi' / 'icu_north.csv'), str(good_copy / 'tbi' / 'icu_north.CSV'))
    result = datasets.check_data_folder(str(good_copy))
    assert [item['message'] for item in result['errors']] == ['No *.csv file: the engine skips this data model.']
    assert 'lower-case ".csv"' in result['warnings'][0]['message']


def test_symlink_leaving_the_folder_is_reported(good_copy, tmp_path):
    outside = tmp_path / 'outside.csv'
    shutil.move(str(good_copy / 'tbi' / 'icu_north.csv'), str(outside))
    os.symlink(str(outside), str(good_copy / 'tbi' / 'icu_north.csv'))
    result = datasets.check_data_folder(str(good_copy))
    [item] = result['errors']
    assert 'cannot follow it' in item['message'] and 'hard link' in item['fix']


def test_symlink_inside_the_folder_is_fine(good_copy):
    os.rename(str(good_copy / 'tbi' / 'icu_north.csv'), str(good_copy / 'tbi' / '.real'))
    os.symlink('.real', str(good_copy / 'tbi' / 'icu_north.csv'))
    assert datasets.check_data_folder(str(good_copy))['errors'] == []


def test_unreadable_file_for_the_engine_user(good_copy):
    target = good_copy / 'neuro' / 'clinic_a.csv'
    os.chmod(str(target), 0o600)
    result = datasets.check_data_folder(str(good_copy))
    [item] = result['errors']
    assert item['file'] == str(target)
    assert 'UID 10001 cannot read this file (mode 0600' in item['message']
    assert 'chmod g+r' in item['fix']


def test_directory_needs_search_permission(good_copy):
    os.chmod(str(good_copy / 'tbi'), 0o744)
    result = datasets.check_data_folder(str(good_copy))
    assert [item['file'] for item in result['errors']] == [str(good_copy / 'tbi')]


def st(mode, uid=0, gid=0):
    return os.stat_result((stat.S_IFREG | mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))


@pytest.mark.parametrize('mode, uid, gid, is_dir, readable', [
    (0o640, 0, 10001, False, True),      # group read
    (0o600, 0, 10001, False, False),     # group has nothing
    (0o604, 0, 10001, False, False),     # in the group: the group bits apply, not others
    (0o604, 0, 0, False, True),          # others read
    (0o400, 10001, 0, False, True),      # owner read
    (0o077, 10001, 10001, False, False),  # owner bits apply even when group/others allow
    (0o750, 0, 10001, True, True),       # directory: read and search
    (0o740, 0, 10001, True, False),      # directory without search
    (0o710, 0, 10001, True, False),      # directory without read
])
def test_access_by_mode_bits(mode, uid, gid, is_dir, readable):
    assert (datasets.access_issue('/p', st(mode, uid, gid), 10001, {10001}, is_dir) is None) is readable


def test_acl_or_root_reader_is_not_judged():
    assert datasets.access_issue('/p', st(0o600), 10001, {10001}, False, has_acl=True) is None
    assert datasets.access_issue('/p', st(0o000), 0, {0}, False) is None


@pytest.mark.parametrize('line, delimiter', [
    ('dataset,age\n', ','), ('age;dataset\n', ';'), ('dataset\tage\n', '\t'), ('a|b|c\n', '|'), ('dataset\n', ','),
    ('"x,y";dataset\n', ';'),
])
def test_sniff_delimiter(line, delimiter):
    assert datasets.sniff_delimiter(line) == delimiter


CDES = {
    'dataset': dict(sql_type='text', categorical=True, enumerations={'d1'}, min=None, max=None),
    'score': dict(sql_type='real', categorical=False, enumerations=None, min=None, max=1.5),
}


def check_text(text, max_issues=20):
    checker = datasets.CsvChecker('f.csv', CDES, max_issues=max_issues)
    return checker.check(io.StringIO(text, newline='')), checker.issues


def test_quoted_newline_keeps_line_numbers_of_later_rows():
    summary, issues = check_text('dataset,score\n"d1",1\n"d1\nd1",0.5\nd1,2\n')
    assert summary['rows'] == 3
    assert [(item['line'], item['column']) for item in issues] == [(3, 1), (5, 2)]


def test_blank_lines_are_skipped_and_real_numbers_accept_exponents():
    summary, issues = check_text('dataset,score\nd1,1e-3\n\nd1, 1.25\n')
    assert (summary['rows'], issues) == (2, [])


def test_issues_per_file_are_capped():
    summary, issues = check_text('dataset,score\n' + 'd1,x\n' * 30, max_issues=5)
    assert len(issues) == 6
    assert issues[-1]['message'] == '25 more problems in this file are not listed.'


def test_empty_file_and_header_only():
    assert check_text('')[1][0]['message'].startswith('The file is empty')
    assert check_text('dataset,score\n')[1][0]['message'] == 'The file has a header but no data rows.'


def test_header_whitespace_and_duplicates():
    issues = check_text('dataset, score,dataset\nd1,1,d1\n')[1]
    assert [(item['column'], item['fix'] if 'spaces' in item['fix'] else item['message']) for item in issues] == [
        (2, 'Remove the spaces around "score" in the header.'),
        (3, 'Column "dataset" appears twice (columns 1 and 3).'),
    ]


def test_unclosed_quote_is_reported():
    issues = check_text('dataset,score\nd1,"1\n')[1]
    assert issues and all(item['file'] == 'f.csv' for item in issues)


def test_non_utf8_csv(tmp_path):
    path = tmp_path / 'latin.csv'
    path.write_bytes(b'dataset,score\nd1,1\n\xe9\n')
    summary, issues = datasets.check_csv(str(path), 'latin.csv', CDES)
    assert 'not UTF-8' in issues[0]['message']


def metadata_issues(document):
    text = json.dumps(document, indent=2)
    parsed, positions = datasets.parse_json_with_positions(text)
    checker = datasets.MetadataChecker('m.json', positions)
    checker.check(parsed)
    return [item['message'] for item in checker.issues]


DATASET_CDE = {'code': 'dataset', 'label': 'D', 'sql_type': 'text', 'isCategorical': True,
               'enumerations': [{'code': 'd1', 'label': 'D1'}]}


def test_top_level_must_be_an_object():
    assert metadata_issues([1]) == ['The top level is not a JSON object.']


def test_longitudinal_requires_subject_and_visit():
    messages = metadata_issues({'code': 'x', 'version': '1', 'longitudinal': True, 'variables': [DATASET_CDE]})
    assert [message.split(' (at')[0] for message in messages] == [
        'The longitudinal data model has no "subjectid" CDE.', 'The longitudinal data model has no "visitid" CDE.']


def test_dataset_cde_must_be_categorical_text():
    cde = dict(DATASET_CDE, isCategorical=False)
    assert [message.split(' (at')[0] for message in metadata_issues({'code': 'x', 'version': 1, 'variables': [cde]})] == [
        'CDE "dataset" must be categorical with sql_type "text".']


def test_structure_errors():
    variable_y = {'code': 'y', 'label': 'Y', 'sql_type': 'text', 'isCategorical': 'no', 'minValue': 'a'}
    variable_z = {'code': 'z', 'label': 'Z', 'sql_type': 'text', 'isCategorical': True,
                  'enumerations': [{'code': 'a', 'label': 'A'}, {'code': 'a', 'label': 'A'}, 5]}
    messages = metadata_issues({'code': '', 'version': True, 'label': 3, 'variables': {}, 'groups': [
        'g', {'variables': [{'code': 'x'}, 7, variable_y, variable_z]}]})
    short = [message.split(' (at')[0] for message in messages]
    assert short == [
        'Key "code" is missing or empty; the engine skips this data model without a word.',
        'Key "version" is missing or empty; the engine skips this data model without a word.',
        '"label" is not a string.',
        '"variables" is not a list.',
        'A group is not a JSON object.',
        'A group has no "code".',
        'CDE "x" lacks "label", "sql_type", "isCategorical".',
        'A CDE is not a JSON object.',
        'CDE "y" has a non-boolean isCategorical.',
        'minValue of CDE "y" is not a number.',
        'Enumeration code "a" of CDE "z" is repeated.',
        'Enumeration 2 of CDE "z" is not {"code": "<string>", "label": ...}.',
        'There is no "dataset" CDE.',
    ]


def test_bounds_on_text_cde():
    cde = {'code': 'note', 'label': 'N', 'sql_type': 'text', 'isCategorical': False, 'maxValue': 3}
    messages = metadata_issues({'code': 'x', 'version': '1', 'variables': [DATASET_CDE, cde]})
    assert [message.split(' (at')[0] for message in messages] == ['maxValue is set on the text CDE "note".']


def test_positions_of_nested_objects():
    text = '{\n  "a": [\n    {"b": 1},\n      {"c": {"d": 2}}\n  ]\n}'
    document, positions = datasets.parse_json_with_positions(text)
    assert positions[id(document)] == (1, 1)
    assert positions[id(document['a'][0])] == (3, 5)
    assert positions[id(document['a'][1])] == (4, 7)
    assert positions[id(document['a'][1]['c'])] == (4, 13)


def test_format_issue():
    assert datasets.format_issue(datasets.issue('f', 'm.', 'x.', 3, 4)) == 'f:3:4: m. Fix: x.'
    assert datasets.format_issue(datasets.issue('f', 'm.', 'x.')) == 'f: m. Fix: x.'


def test_a_source_folder_is_checked_without_judging_access(tmp_path):
    model = tmp_path / 'neuro'
    shutil.copytree(os.path.join(GOOD, 'neuro'), str(model))
    model.chmod(0o700)
    judged = datasets.check_data_folder(str(tmp_path), ['neuro'], uid=12345, gids=(12345,))
    assert any(item['file'].endswith('neuro') for item in judged['errors']), 'UID 12345 cannot enter a 0700 folder'
    source = datasets.check_data_folder(str(tmp_path), ['neuro'], uid=None)
    assert source['errors'] == [] and source['valid']
