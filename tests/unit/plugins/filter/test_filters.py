# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys
import textwrap

# Importing controller code (ansible.errors, which the filters need) changes how AnsibleModule reports warnings for
# the rest of the process, and the module tests read those: each filter runs in a Python of its own.


def run_probe(code):
    done = subprocess.run([sys.executable, '-c', textwrap.dedent(code) + "\nprint('ok')\n"],
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == 'ok', done.stderr


def test_secrets_export_entries_refuses_what_k8s_info_never_returns():
    run_probe('''
        from ansible.errors import AnsibleFilterError
        from ansible_collections.sciplat.k8s.plugins.filter.secrets import FilterModule
        export = FilterModule().filters()['secrets_export_entries']
        assert export([]) == []
        for bad in ({'resources': []}, ['a string']):
            try:
                export(bad)
            except AnsibleFilterError as exc:
                assert 'resources list of kubernetes.core.k8s_info' in str(exc), exc
            else:
                raise AssertionError('accepted %r' % (bad,))
    ''')


def test_label_problems_names_node_key_and_rule():
    run_probe('''
        from ansible.errors import AnsibleFilterError
        from ansible_collections.sciplat.k8s.plugins.filter.labels import FilterModule
        problems = FilterModule().filters()['label_problems']
        labels = {'n1': {'worker': 'true', 'node-role.kubernetes.io/worker': '', 'bad key': 'x'},
                  'N2': {'zone': 'a'}}
        found = problems(labels)
        assert len(found) == 2, found
        assert found[0].startswith("node name 'N2'") or "'N2'" in found[0], found
        assert "node 'n1', label 'bad key'" in found[1], found
        assert problems({'n1': {'node-role.kubernetes.io/worker': ''}}, []) != []
        assert problems({'n1': {'worker': 'true'}}, ['node-role.kubernetes.io']) == []
        try:
            problems({}, 'node-role.kubernetes.io')
        except AnsibleFilterError:
            pass
        else:
            raise AssertionError('a string of prefixes was accepted')
    ''')
