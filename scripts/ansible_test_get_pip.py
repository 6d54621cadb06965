"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test creates each sanity venv without pip, then runs a ``get-pip`` script fetched from
ci-files.testing.ansible.com, which CI cannot reach. It looks for a cached copy first, so
scripts/test.sh places this file there: it installs pip from the wheel bundled with Python
(ensurepip) and then installs the requested packages from PyPI, which CI can reach.
Arguments are those ansible-test passes to get-pip: pip install options plus the packages.
"""
import configparser
import ensurepip
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')
SYSTEM_PIP_CONFIGS = ('/etc/pip.conf', '/etc/xdg/pip/pip.conf')


def system_certificate_options():
    """ansible-test runs pip with a bare environment, where the bundled pip does not apply the
    machine's pip.conf; a TLS-intercepting registry mirror then fails verification. Pass its CA on."""
    config = configparser.ConfigParser()
    config.read(SYSTEM_PIP_CONFIGS)
    cert = config.get('global', 'cert', fallback=None)
    return ['--cert', cert] if cert else []


ensurepip.bootstrap(upgrade=True)
pip_arguments = system_certificate_options() + [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + pip_arguments))
