# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MIG profile names: parse, validate, canonicalise, and resolve them on a device.

Grammar (case-insensitive; the canonical form is lowercase without any prefix)::

    name       := [prefix] [C "c."] G "g." M "gb" [suffix]
    prefix     := "MIG " | "nvidia.com/mig-"          (nvidia-smi / Kubernetes spellings)
    suffix     := sign attribute { (sign | ",") attribute }
    sign       := "+" | "-"                           (one sign per name, never mixed)
    attribute  := letter { letter | digit } { "." (letter | digit) { letter | digit } }

C, G and M are positive integers (M may be 0: Thor's "1g.0gb"), C <= G, and attributes
are unique. ``3c.3g.40gb`` is canonicalised to ``3g.40gb`` (a compute instance that spans
its GPU instance is named like the GPU instance). Attribute order is kept as written, so
the canonical form matches NVIDIA's spelling; comparisons ignore the order.

Names are resolved against the profile list the device reports (never a built-in table,
because names collide across boards: ``1g.10gb`` is a different profile on A100-40GB and
on H100): ``3g.40gb`` is that GPU-instance profile with its default compute-instance
profile, ``1c.3g.40gb`` the same GPU instance with the 1-slice compute-instance profile.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

from ._errors import InputError

_PREFIXES = ("nvidia.com/mig-", "mig ")
_CORE = re.compile(r"^(?:(?P<c>\d+)c\.)?(?P<g>\d+)g\.(?P<m>\d+)gb(?P<suffix>.*)$")
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9]*(?:\.[a-z0-9]+)*$")
_ATTRIBUTE_SPLIT = re.compile(r"([+,-])")


class ProfileName(namedtuple("ProfileName", ["compute_slices", "gpu_slices", "memory_gb", "sign", "attributes"])):
    """A parsed profile name. ``sign`` is "+", "-" or "" (no attributes)."""

    __slots__ = ()

    @property
    def gpu_instance_name(self):
        """Canonical name of the GPU-instance part ("3g.40gb" for "1c.3g.40gb")."""
        return "%dg.%dgb%s" % (self.gpu_slices, self.memory_gb, self.sign + self.sign.join(self.attributes))

    @property
    def is_compute_instance(self):
        """True for "Cc.Gg..." names with C < G."""
        return self.compute_slices < self.gpu_slices

    def same_gpu_instance(self, other):
        """True when both names denote the same GPU-instance profile (attribute order ignored)."""
        return (self.gpu_slices, self.memory_gb, self.sign, frozenset(self.attributes)) == (
            other.gpu_slices,
            other.memory_gb,
            other.sign,
            frozenset(other.attributes),
        )

    def __str__(self):
        if self.is_compute_instance:
            return "%dc.%s" % (self.compute_slices, self.gpu_instance_name)
        return self.gpu_instance_name


def _strip_prefix(text):
    lowered = text.strip().lower()
    for prefix in _PREFIXES:
        if lowered.startswith(prefix):
            return lowered[len(prefix):].strip()
    return lowered


def _parse_suffix(suffix, fail):
    if not suffix:
        return "", ()
    if suffix[0] not in "+-":
        fail("unexpected %r after the memory size (attributes start with '+' or '-')" % suffix)
    parts = _ATTRIBUTE_SPLIT.split(suffix)[1:]
    separators, attributes = parts[0::2], parts[1::2]
    signs = set(separator for separator in separators if separator != ",")
    if len(signs) > 1:
        fail("attributes %r mix '+' and '-'" % suffix)
    for attribute in attributes:
        if not _ATTRIBUTE.match(attribute):
            fail(
                "attribute %r is not valid (letters and digits, inner dots allowed, starting with a letter)"
                % attribute
            )
    duplicates = sorted(set(attribute for attribute in attributes if attributes.count(attribute) > 1))
    if duplicates:
        fail("attribute %r appears more than once" % duplicates[0])
    return signs.pop(), tuple(attributes)


#: {name: ProfileName} of the names parsed so far (a run resolves the same few names once
#: per GPU, and every board profile name with each)
_PARSED = {}


def parse(name, option="profile", valid=None):
    """Parse a profile name into a :class:`ProfileName`.

    Raises InputError(option, name, problem, valid) naming the offending part; ``valid``
    (the profiles of the target board, when the caller knows them) is listed in the error.
    """
    parsed = _PARSED.get(name) if isinstance(name, str) else None
    if parsed is None:
        parsed = _PARSED[name] = _parse(name, option, valid)
    return parsed


def _parse(name, option, valid):
    def fail(problem):
        raise InputError(option, name, problem, valid)

    if not isinstance(name, str) or not name.strip():
        fail("a profile name is required, such as 1g.10gb, 1g.10gb+me or 1c.3g.40gb")
    match = _CORE.match(_strip_prefix(name))
    if not match:
        fail("expected [<C>c.]<G>g.<M>gb[+attribute], such as 1g.10gb, 1g.24gb-me or 2c.4g.40gb")
    gpu_slices = int(match.group("g"))
    compute_slices = int(match.group("c")) if match.group("c") is not None else gpu_slices
    if gpu_slices < 1:
        fail("the GPU-instance slice count %r must be at least 1" % (match.group("g") + "g"))
    if compute_slices < 1:
        fail("the compute-instance slice count %r must be at least 1" % (match.group("c") + "c"))
    if compute_slices > gpu_slices:
        fail("compute slices %dc exceed the GPU instance's %dg (C must be <= G)" % (compute_slices, gpu_slices))
    sign, attributes = _parse_suffix(match.group("suffix"), fail)
    return ProfileName(compute_slices, gpu_slices, int(match.group("m")), sign, attributes)


def canonical(name, option="profile"):
    """Canonical spelling of a profile name ("MIG 1C.3G.40GB" -> "1c.3g.40gb")."""
    return str(parse(name, option))


def default_compute_profile(gpu_profile):
    """The compute-instance profile `nvidia-smi mig -cgi ... -C` would create, or None.

    The one the device flags as default; failing that the one spanning the whole GPU
    instance (drivers that do not flag a default).
    """
    spanning = None
    for compute_profile in gpu_profile.compute_profiles:
        if compute_profile.is_default:
            return compute_profile
        if spanning is None and compute_profile.slice_count == gpu_profile.slice_count:
            spanning = compute_profile
    return spanning


def valid_names(profiles):
    """Every name :func:`resolve` accepts for this profile list, GPU instances first."""
    names = [profile.name for profile in profiles]
    for profile in profiles:
        gpu_name = parse(profile.name)
        for compute_slices in sorted(set(ci.slice_count for ci in profile.compute_profiles)):
            if compute_slices < profile.slice_count:
                names.append(str(gpu_name._replace(compute_slices=compute_slices)))
    return names


def resolve(name, profiles, option="profile"):
    """Find a profile name on a device: -> (GpuInstanceProfile, ComputeInstanceProfile).

    ``profiles`` is the GpuInstanceProfile list the device reports. The compute-instance
    profile is the GPU instance's default one for GI names, the C-slice one for "Cc.Gg"
    names (the device's default among several C-slice ones); it is None only when the
    device lists no compute-instance profiles for a GI name.
    Raises InputError naming the part that matches nothing, with the board's valid names.
    """
    valid = valid_names(profiles)
    wanted = parse(name, option, valid)

    def fail(problem):
        raise InputError(option, name, problem, valid)

    parsed = [(profile, parse(profile.name)) for profile in profiles]
    same_size = [(profile, parsed_name) for profile, parsed_name in parsed if parsed_name.gpu_slices == wanted.gpu_slices]
    if not same_size:
        fail("this GPU has no %dg profile" % wanted.gpu_slices)
    same_memory = [(profile, parsed_name) for profile, parsed_name in same_size if parsed_name.memory_gb == wanted.memory_gb]
    if not same_memory:
        fail(
            "this GPU has no %dg profile with %dgb (it has %s)"
            % (wanted.gpu_slices, wanted.memory_gb, ", ".join(sorted(set(p.name for p, _n in same_size))))
        )
    matches = [profile for profile, parsed_name in same_memory if parsed_name.same_gpu_instance(wanted)]
    if not matches:
        attributes = wanted.sign + wanted.sign.join(wanted.attributes) or "no attributes"
        fail(
            "this GPU has no %dg.%dgb profile with %s (it has %s)"
            % (wanted.gpu_slices, wanted.memory_gb, attributes, ", ".join(p.name for p, _n in same_memory))
        )
    gpu_profile = matches[0]
    if not wanted.is_compute_instance:
        return gpu_profile, default_compute_profile(gpu_profile)
    candidates = [ci for ci in gpu_profile.compute_profiles if ci.slice_count == wanted.compute_slices]
    if not candidates:
        fail("GPU instance %s has no %dc compute-instance profile" % (gpu_profile.name, wanted.compute_slices))
    defaults = [ci for ci in candidates if ci.is_default]
    return gpu_profile, (defaults or sorted(candidates, key=lambda ci: ci.profile_id))[0]


def mig_profile_name(gi_profile, compute_slices):
    """Name of a MIG device the way mig-parted and the device plugin write it: the GPU
    instance's profile name ("3g.40gb", "1g.10gb+me"), as "<C>c.<GI name>" when the
    compute instance uses fewer compute slices than the GPU instance has."""
    return str(parse(gi_profile.name)._replace(compute_slices=min(compute_slices, gi_profile.slice_count)))
