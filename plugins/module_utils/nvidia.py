# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions about the NVIDIA host driver of an Ubuntu node, as pure functions.

Inputs are what a node shows in sysfs (PCI devices, loaded kernel modules) and in dpkg; outputs
are the packages to install or remove for a driver branch and what the running kernel needs so
that the installed driver is the one in use: nothing, loading the module, or a reboot.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

NVIDIA_VENDOR = 0x10de
# PCI base classes of GPUs: 0x0300 VGA-compatible, 0x0302 3D controller (data-centre cards),
# 0x0380 other display controller. NVIDIA cards also expose audio and USB functions, which are not GPUs.
GPU_CLASSES = (0x0300, 0x0302, 0x0380)
BRANCH_PATTERN = re.compile(r'^[0-9]{3}$')
# Ubuntu's server driver packages: nvidia-headless-570-server[-open], nvidia-utils-570-server, and
# the packages they pull in (nvidia-dkms-570-server, nvidia-kernel-common-570-server, libnvidia-*-570-server, ...).
BRANCH_PACKAGE = re.compile(r'^(?:lib)?nvidia-[a-z0-9-]*?-([0-9]{3})-server(?:-open)?$')
HEADLESS_PACKAGE = re.compile(r'^nvidia-headless-([0-9]{3})-server(-open)?$')
# A module version stands in for "a new driver not yet in use" when check mode cannot install it.
PENDING = 'pending installation'


def read_pci_devices(sysfs='/sys'):
    """PCI functions from ``<sysfs>/bus/pci/devices/*`` as dicts: address, vendor, device, class (ints)."""
    base = os.path.join(sysfs, 'bus', 'pci', 'devices')
    devices = []
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return devices
    for name in names:
        entry = dict(address=name)
        for key in ('vendor', 'device', 'class'):
            try:
                with open(os.path.join(base, name, key)) as handle:
                    entry[key] = int(handle.read().strip(), 16)
            except (OSError, ValueError):
                entry[key] = None
        devices.append(entry)
    return devices


def nvidia_gpus(devices):
    """The devices that are NVIDIA GPUs (vendor 0x10de and a display class)."""
    return [device for device in devices
            if device.get('vendor') == NVIDIA_VENDOR and device.get('class') is not None
            and (device['class'] >> 8) in GPU_CLASSES]


def describe_device(device):
    return dict(address=device['address'], vendor='0x%04x' % device['vendor'],
                device='0x%04x' % device['device'] if device.get('device') is not None else None,
                pci_class='0x%06x' % device['class'])


def read_module(sysfs, name):
    """``(loaded, version)`` of a kernel module from ``<sysfs>/module/<name>``; version None if not exported."""
    path = os.path.join(sysfs, 'module', name)
    if not os.path.isdir(path):
        return False, None
    try:
        with open(os.path.join(path, 'version')) as handle:
            return True, handle.read().strip() or None
    except (OSError, IOError):
        return True, None


def parse_dpkg(output):
    """``dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'`` lines -> {package: version} of installed ones."""
    installed = {}
    for line in output.splitlines():
        parts = line.split('\t')
        if len(parts) >= 3 and parts[2].startswith('ii'):
            installed[parts[0]] = parts[1]
    return installed


def upstream_version(debian_version):
    """``570.133.20-0ubuntu0.24.04.1`` -> ``570.133.20`` (epoch and Debian revision dropped)."""
    if not debian_version:
        return None
    version = debian_version.split(':', 1)[-1]
    return version.rsplit('-', 1)[0] if '-' in version else version


def installed_branches(packages):
    """Driver branches that have packages installed: {branch: [packages]}."""
    branches = {}
    for name in sorted(packages):
        match = BRANCH_PACKAGE.match(name)
        if match:
            branches.setdefault(match.group(1), []).append(name)
    return branches


def driver_packages(branch, open_modules=False):
    """The two packages of the Ubuntu server driver for ``branch``."""
    return ['nvidia-headless-%s-server%s' % (branch, '-open' if open_modules else ''), 'nvidia-utils-%s-server' % branch]


def installed_driver_version(packages, branch):
    """Upstream version of the installed headless driver of ``branch`` (open or not), else None."""
    for name, version in sorted(packages.items()):
        match = HEADLESS_PACKAGE.match(name)
        if match and match.group(1) == branch:
            return upstream_version(version)
    return None


def select_branch(requested, packages, allow_change=False, open_modules=False):
    """Checks the requested branch against what is installed.

    Returns ``(packages_to_install, packages_to_remove, error)``. Another installed branch is an
    error unless ``allow_change``: changing the driver of a GPU node is a decision, not a side effect.
    """
    requested = str(requested)
    if not BRANCH_PATTERN.match(requested):
        return [], [], ('nvidia_driver_branch must be a driver branch of three digits such as "570" (got "%s"); '
                        'see "ubuntu-drivers list --gpgpu" on the node for the available ones.' % requested)
    others = dict((branch, names) for branch, names in installed_branches(packages).items() if branch != requested)
    if others and not allow_change:
        return [], [], ('Driver branch %s is installed on this node and branch %s was requested. Set nvidia_driver_branch '
                        'to "%s" to keep it, or nvidia_driver_branch_change: true to replace it (a reboot follows).'
                        % (', '.join(sorted(others)), requested, sorted(others)[-1]))
    remove = sorted(name for names in others.values() for name in names)
    return driver_packages(requested, open_modules), remove, None


def module_action(gpu_present, nouveau_loaded, loaded_version, installed_version):
    """What the running kernel needs so that the installed driver is in use: ``(action, reason)``.

    ``action`` is ``none``, ``load`` (``modprobe nvidia`` is enough) or ``reboot``. A reboot is only
    needed when a module must be replaced: nouveau holds the GPU, or another nvidia version is loaded.
    """
    if not gpu_present:
        return 'none', 'no NVIDIA GPU is visible on this host, so there is no module to load'
    if installed_version is None:
        return 'none', 'no NVIDIA driver is installed'
    if nouveau_loaded:
        return 'reboot', 'nouveau is loaded and holds the GPU; it is blacklisted and will not load after a reboot'
    if loaded_version is None:
        return 'load', 'the nvidia module is not loaded; loading it starts driver %s' % installed_version
    if loaded_version != installed_version:
        return 'reboot', 'nvidia %s is loaded but %s is installed' % (loaded_version, installed_version)
    return 'none', 'nvidia %s is loaded and installed' % loaded_version


def gpu_node_facts(sysfs, packages, branch=None, open_modules=False, allow_change=False, driver_changed=False):
    """Everything the nvidia role decides on, from sysfs and the installed packages.

    ``driver_changed`` says that the driver package task reported a change that check mode did
    not perform, so the installed version is taken as a new one.
    """
    gpus = nvidia_gpus(read_pci_devices(sysfs))
    nouveau_loaded = read_module(sysfs, 'nouveau')[0]
    nvidia_loaded, loaded_version = read_module(sysfs, 'nvidia')
    facts = dict(gpus=[describe_device(device) for device in gpus], gpu_present=bool(gpus),
                 nouveau_loaded=nouveau_loaded, nvidia_loaded=nvidia_loaded, nvidia_loaded_version=loaded_version,
                 installed_branches=sorted(installed_branches(packages)), branch=None, packages=[],
                 remove_packages=[], installed_version=None, error=None)
    if branch is None:
        return facts
    install, remove, error = select_branch(branch, packages, allow_change, open_modules)
    installed = PENDING if driver_changed else installed_driver_version(packages, str(branch))
    action, reason = module_action(bool(gpus), nouveau_loaded, loaded_version, installed)
    facts.update(branch=str(branch), packages=install, remove_packages=remove, installed_version=installed,
                 error=error, module_action=action, reason=reason)
    return facts
