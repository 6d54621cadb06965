# -*- coding: utf-8 -*-
"""The dataset_check module entry point on the fixture datasets."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.sciplat.k8s.plugins.modules import dataset_check

FIXTURES = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'datasets'))


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            dataset_check.main()
    return info.value.code, json.loads(capsys.readouterr().out)


def test_good_folder_returns_the_summary_unchanged(capsys):
    code, result = run(capsys, path=os.path.join(FIXTURES, 'good'), data_models=['neuro', 'tbi'])
    assert code == 0
    assert result['changed'] is False and result['valid'] is True
    assert [item['code'] for item in result['datasets']] == ['clinic_a', 'clinic_b', 'icu_north']
    assert result['rows'] == 12 and result['errors'] == [] and result['warnings_found'] == []


def test_bad_folder_fails_with_file_line_and_fix_in_the_message(capsys):
    code, result = run(capsys, path=os.path.join(FIXTURES, 'bad'))
    assert code == 1
    assert result['changed'] is False and result['valid'] is False
    first_line, listed = result['msg'].split('\n', 1)
    assert first_line == '%d problem(s) in the data folder %s:' % (len(result['errors']), os.path.join(FIXTURES, 'bad'))
    assert os.path.join(FIXTURES, 'bad', 'bad_cdes', 'CDEsMetadata.json') + ':5:5: CDE "age" has sql_type "float".' in listed
    assert listed.count(' Fix: ') == dataset_check.MESSAGE_ISSUES
    assert listed.endswith('... and %d more (see "errors").' % (len(result['errors']) - dataset_check.MESSAGE_ISSUES))


def test_report_without_failing(capsys):
    code, result = run(capsys, path=os.path.join(FIXTURES, 'bad', 'unknown_column'), fail_on_error=False)
    assert code == 0 and result['valid'] is False
    assert [(item['line'], item['column']) for item in result['errors']] == [(1, 3)]


def test_warnings_reach_the_play(capsys, tmp_path):
    shutil.copytree(os.path.join(FIXTURES, 'good', 'tbi'), str(tmp_path / 'tbi'))
    os.rename(str(tmp_path / 'tbi' / 'icu_north.csv'), str(tmp_path / 'tbi' / 'icu_north.CSV'))
    code, result = run(capsys, path=str(tmp_path), fail_on_error=False)
    assert code == 0
    # ansible-core 2.19 returns structured warnings; older versions return strings.
    assert any('lower-case ".csv"' in str(warning) for warning in result['warnings'])
    assert 'lower-case' in result['warnings_found'][0]['message']
