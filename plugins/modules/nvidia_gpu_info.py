#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: nvidia_gpu_info
short_description: Find NVIDIA GPUs on a node and decide what its host driver needs
version_added: 0.1.0
description:
  - Lists the NVIDIA GPUs of the node from C(/sys/bus/pci/devices/*) (vendor C(0x10de) with a display
    class; the audio and USB functions of a card are not counted), whether C(nouveau) and C(nvidia) are
    loaded (C(/sys/module)) and which NVIDIA driver packages are installed (C(dpkg-query)).
  - With O(branch), decides the Ubuntu server driver packages to install
    (C(nvidia-headless-<branch>-server[-open]), C(nvidia-utils-<branch>-server)), refuses a different
    installed branch unless O(allow_branch_change), and says what the running kernel needs so that the
    installed driver is in use (RV(module_action)) - V(none), V(load) (C(modprobe nvidia) is enough) or
    V(reboot) (nouveau holds the GPU, or another nvidia version is loaded).
  - Only reads; never reports a change. Used by the M(sciplat.k8s.nvidia) role before and after installing.
author:
  - sciplat.k8s developers (@sciplat)
options:
  branch:
    description:
      - Driver branch, three digits such as C(570). Without it only the node facts are returned.
    type: str
  open_kernel_modules:
    description:
      - Use the open kernel modules package (C(nvidia-headless-<branch>-server-open)), needed by some recent GPUs.
    type: bool
    default: false
  allow_branch_change:
    description:
      - Allow replacing another installed branch; its packages are then listed in RV(remove_packages).
      - Without it another installed branch makes the module fail, before any change.
    type: bool
    default: false
  driver_changed:
    description:
      - The driver package task reported a change that was not carried out (check mode). The installed
        driver is then taken as a new version that is not in use yet, to predict RV(module_action).
    type: bool
    default: false
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
  - Needs C(dpkg-query) (Debian and Ubuntu).
'''

EXAMPLES = r'''
- name: Decide the packages and the reboot for driver branch 570
  sciplat.k8s.nvidia_gpu_info:
    branch: "570"
  register: gpu

- name: Reboot only when the kernel module must change
  ansible.builtin.reboot:
  when: gpu.module_action == 'reboot'
  throttle: 1
'''

RETURN = r'''
gpu_present:
  description: Whether at least one NVIDIA GPU is on the PCI bus.
  returned: always
  type: bool
  sample: true
gpus:
  description: The NVIDIA GPUs with C(address), C(vendor), C(device) and C(pci_class).
  returned: always
  type: list
  elements: dict
  sample: [{address: "0000:65:00.0", vendor: "0x10de", device: "0x20b5", pci_class: "0x030200"}]
nouveau_loaded:
  description: Whether the nouveau module is loaded.
  returned: always
  type: bool
nvidia_loaded:
  description: Whether the nvidia module is loaded.
  returned: always
  type: bool
nvidia_loaded_version:
  description: Version of the loaded nvidia module, or null.
  returned: always
  type: str
  sample: 570.133.20
installed_branches:
  description: Driver branches with packages installed.
  returned: always
  type: list
  elements: str
  sample: ["570"]
branch:
  description: The requested branch, or null.
  returned: always
  type: str
packages:
  description: Packages to install for O(branch).
  returned: always
  type: list
  elements: str
  sample: [nvidia-headless-570-server, nvidia-utils-570-server]
remove_packages:
  description: Packages of another branch to remove first (only with O(allow_branch_change)).
  returned: always
  type: list
  elements: str
installed_version:
  description: Upstream version of the installed headless driver of O(branch), C(pending installation) with O(driver_changed), or null.
  returned: always
  type: str
  sample: 570.133.20
module_action:
  description: What the running kernel needs for the installed driver to be in use.
  returned: when O(branch) is given
  type: str
  choices: [none, load, reboot]
reason:
  description: Why RV(module_action) was chosen, in words.
  returned: when O(branch) is given
  type: str
  sample: nouveau is loaded and holds the GPU; it is blacklisted and will not load after a reboot
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciplat.k8s.plugins.module_utils.nvidia import gpu_node_facts, parse_dpkg

SYSFS = '/sys'


def installed_packages(module):
    dpkg_query = module.get_bin_path('dpkg-query', required=True)
    rc, out, err = module.run_command([dpkg_query, '-W', '-f', '${Package}\t${Version}\t${db:Status-Abbrev}\n',
                                       'nvidia-*', 'libnvidia-*'])
    # dpkg-query exits 1 when a pattern matches no package, which is the normal case on a fresh node.
    if rc not in (0, 1):
        module.fail_json(msg='dpkg-query failed (%d): %s' % (rc, err.strip()))
    return parse_dpkg(out)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            branch=dict(type='str'),
            open_kernel_modules=dict(type='bool', default=False),
            allow_branch_change=dict(type='bool', default=False),
            driver_changed=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    facts = gpu_node_facts(SYSFS, installed_packages(module), params['branch'], params['open_kernel_modules'],
                           params['allow_branch_change'], params['driver_changed'])
    error = facts.pop('error')
    if error:
        module.fail_json(msg=error, changed=False, **facts)
    module.exit_json(changed=False, **facts)


if __name__ == '__main__':
    main()
