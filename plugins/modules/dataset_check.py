#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dataset_check
short_description: Validate Exaflow/MIP data-model folders on a node before deploying the engine
version_added: 0.1.0
description:
  - Checks a federation data folder, for example C(/data/<federation>), the way the Exaflow worker
    reads it as its C(DATA_PATH), together with every data-model (pathology) folder directly inside it.
  - For each data-model folder, C(CDEsMetadata.json) must exist and be valid JSON with a C(code), a
    C(version), CDEs in C(variables)/C(groups) (each with C(code), C(label), C(sql_type) C(int)/C(real)/C(text)
    and C(isCategorical), enumerations for categorical ones) and a categorical text C(dataset) CDE.
  - Each data-model folder must hold C(*.csv) files whose header has a C(dataset) column and only
    columns that are CDE codes of the metadata; every C(dataset) value must be declared in the
    C(dataset) CDE, and a dataset may live in only one CSV file.
  - Every folder and file must be readable by the engine's user (UID and GID 10001 by default),
    judged from owner, group and mode bits; symbolic links that leave the folder are reported
    because the engine container only mounts the folder itself.
  - Each problem names the file, the line and column (or the JSON pointer of the CDE) and the fix.
  - Runs on the node that holds the data (or on the controller for a source folder), only reads files and never
    reports a change. It does not talk to Kubernetes.
author:
  - sciplat.k8s developers (@sciplat)
options:
  path:
    description:
      - The federation data folder, mounted by the engine as its data path.
      - A C(CDEsMetadata.json) directly in it makes the folder itself a data model too, as for the engine.
    type: path
    required: true
  data_models:
    description:
      - Names of data-model folders that must exist in O(path). Other folders found there are checked as well.
    type: list
    elements: str
    default: []
  reader_uid:
    description:
      - The user ID the engine reads the files as.
    type: int
    default: 10001
  check_access:
    description:
      - Judge whether O(reader_uid) and O(reader_gids) can read every folder and file.
      - V(false) for a source folder, such as the datasets on the controller before a copy sets owner and modes.
    type: bool
    default: true
  reader_gids:
    description:
      - The group IDs of the engine's process, used to judge group permissions.
    type: list
    elements: int
    default: [10001]
  check_values:
    description:
      - Also check every CSV value against its CDE (integers, numbers, enumerations, minValue/maxValue).
      - Header, C(dataset) values and row lengths are always checked.
    type: bool
    default: true
  max_errors_per_file:
    description:
      - At most this many problems are listed per CSV file; a last entry counts the rest.
    type: int
    default: 20
  fail_on_error:
    description:
      - Fail when a problem is found. With V(false) the module returns RV(valid=false) and the list of problems.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - POSIX ACLs are not evaluated; a file with an ACL gets a warning instead of a verdict.
seealso:
  - name: Exaflow data loader
    description: How the Exaflow worker reads its data folder.
    link: https://github.com/madgik/exaflow/blob/master/exaflow/worker/utils/duck_db_csv_loader.py
'''

EXAMPLES = r'''
- name: Check the datasets of federation dementia on this worker
  sciplat.k8s.dataset_check:
    path: /data/dementia
    data_models:
      - dementia
      - mentalhealth
  register: datasets

- name: Show what the engine will load
  ansible.builtin.debug:
    msg: "{{ datasets.datasets | map(attribute='code') | list }}"

- name: Collect problems without failing
  sciplat.k8s.dataset_check:
    path: /data/dementia
    fail_on_error: false
  register: report
'''

RETURN = r'''
valid:
  description: Whether no problem was found.
  returned: always
  type: bool
  sample: true
data_folder:
  description: The absolute path of the folder that was checked.
  returned: always
  type: str
  sample: /data/dementia
data_models:
  description: One entry per data-model folder that holds a C(CDEsMetadata.json).
  returned: always
  type: list
  elements: dict
  contains:
    folder:
      description: Folder name.
      type: str
      sample: dementia
    path:
      description: Folder path.
      type: str
      sample: /data/dementia/dementia
    code:
      description: C(code) of the metadata.
      type: str
      sample: dementia
    version:
      description: C(version) of the metadata.
      type: str
      sample: "0.1"
    label:
      description: C(label) of the metadata, else its code.
      type: str
      sample: Dementia
    longitudinal:
      description: Whether the metadata declares a longitudinal data model.
      type: bool
      sample: false
    cdes:
      description: Number of CDEs declared.
      type: int
      sample: 12
    rows:
      description: Data rows in all CSV files of the data model.
      type: int
      sample: 1200
    datasets:
      description: Datasets found in the CSV files, with C(code), C(csv) and C(rows).
      type: list
      elements: dict
      sample: [{code: edsd, csv: /data/dementia/dementia/edsd.csv, rows: 474}]
    csv_files:
      description: Each CSV file with C(file), C(rows), C(columns), C(delimiter) and C(datasets) (rows per dataset code).
      type: list
      elements: dict
datasets:
  description: All datasets of all data models, each with C(code), C(csv), C(rows), C(folder) and C(data_model) (C(code:version)).
  returned: always
  type: list
  elements: dict
  sample: [{code: edsd, csv: /data/dementia/dementia/edsd.csv, rows: 474, folder: dementia, data_model: "dementia:0.1"}]
rows:
  description: Data rows in all CSV files.
  returned: always
  type: int
  sample: 1200
errors:
  description: Problems found, each with C(file), C(line), C(column) (number or CSV column name, may be null), C(message) and C(fix).
  returned: always
  type: list
  elements: dict
  sample: [{file: /data/dementia/dementia/edsd.csv, line: 1, column: 4, message: 'Column "agee" is not a CDE code declared in CDEsMetadata.json.',
            fix: 'Declare a CDE "agee" in CDEsMetadata.json or rename/remove the column (did you mean "age"?).'}]
warnings_found:
  description: Findings that do not stop the engine (ignored upper-case C(.CSV) names, files with ACLs), shaped like RV(errors).
  returned: always
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciplat.k8s.plugins.module_utils.datasets import check_data_folder, format_issue

# How many problems the failure message spells out; all are in the returned errors.
MESSAGE_ISSUES = 15


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            data_models=dict(type='list', elements='str', default=[]),
            reader_uid=dict(type='int', default=10001),
            check_access=dict(type='bool', default=True),
            reader_gids=dict(type='list', elements='int', default=[10001]),
            check_values=dict(type='bool', default=True),
            max_errors_per_file=dict(type='int', default=20),
            fail_on_error=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    reader_uid = params['reader_uid'] if params['check_access'] else None
    result = check_data_folder(params['path'], params['data_models'], reader_uid, params['reader_gids'],
                               params['check_values'], params['max_errors_per_file'])
    result['warnings_found'] = result.pop('warnings')
    for item in result['warnings_found']:
        module.warn(format_issue(item))
    if result['errors'] and params['fail_on_error']:
        lines = [format_issue(item) for item in result['errors'][:MESSAGE_ISSUES]]
        if len(result['errors']) > MESSAGE_ISSUES:
            lines.append('... and %d more (see "errors").' % (len(result['errors']) - MESSAGE_ISSUES))
        module.fail_json(msg='%d problem(s) in the data folder %s:\n%s' % (len(result['errors']), result['data_folder'], '\n'.join(lines)),
                         changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
