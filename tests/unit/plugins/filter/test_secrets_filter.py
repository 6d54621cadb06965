# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

# Importing controller code (ansible.errors, which the filter needs) changes how AnsibleModule reports warnings for
# the rest of the process, and the module tests read those: the filter runs in a Python of its own.
PROBE = '''
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
print('ok')
'''


def test_the_filter_is_registered_and_refuses_what_k8s_info_never_returns():
    done = subprocess.run([sys.executable, '-c', PROBE], env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == 'ok', done.stderr
