# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A simulated GPU host: libnvidia-ml and libnvfm replacements that sit beneath the real
Python bindings, with the machine's state in one JSON file."""
