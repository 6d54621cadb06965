# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A FAKE Onezone for tests only (loopback HTTPS, self-signed). Not part of the collection."""
