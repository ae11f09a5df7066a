# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mig_instance's options -> the desired state of each selected GPU.

Exactly one form describes the wanted GPU instances:

* ``layout``: profile names (one GPU instance each, with its default compute instance;
  a compute-instance name such as ``1c.3g.40gb`` is one GPU instance with that one compute
  instance, as mig-parted reads it) or mappings ``{profile, count, placement,
  compute_instances}``; the same layout applies to every selected GPU;
* ``requirements``: ``{memory_gb, compute_slices, media_engines, count}`` items, turned
  into profiles per GPU by ``_selection.select``;
* ``mig_parted_config``: a mig-parted v1 file and config name (``_migparted``); GPUs the
  config does not select are left alone, ``mig-enabled: false`` entries are honoured;
* ``state: absent``: no instances.

Names are resolved against each GPU's own profile list. Compute instances are kept as
compute-slice counts (``Wanted.compute``) rather than NVML compute profiles, because
NVML only lists a GPU instance profile's compute profiles through an existing GPU
instance of it (see ``_nvml``): ``placement_items`` resolves them where they are known,
and the executor resolves the rest right after creating the GPU instance.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from collections import namedtuple

from ._capabilities import capabilities_for
from ._errors import InputError
from ._model import Placement
from ._placement import Desired
from ._profiles import parse, resolve

#: One wanted GPU instance. ``profile``: GpuInstanceProfile; ``placement``: Placement or
#: None (the strategy chooses); ``compute``: None for the GPU instance's default compute
#: instance, else a tuple of compute-slice counts, one compute instance each (() = none).
Wanted = namedtuple("Wanted", ["profile", "placement", "compute"])

#: The desired state of one GPU: ``mig_enabled`` and the complete list of Wanted.
#: ``mig_required``: MIG mode must be on even when no instance is wanted (a mig-parted
#: entry with ``mig-enabled: true``, such as ``all-enabled``); otherwise an empty list on a
#: GPU with MIG disabled leaves its MIG mode alone (``state: absent``).
DesiredGpu = namedtuple("DesiredGpu", ["index", "mig_enabled", "wanted", "mig_required"])
DesiredGpu.__new__.__defaults__ = (False,)


class DesiredState(dict):
    """{GPU index: DesiredGpu}, with ``warnings`` for the module result: what the input
    asks for that this host ignores (a mig-parted entry selecting none of its GPUs)."""

    def __init__(self, items=(), warnings=()):
        super(DesiredState, self).__init__(items)
        self.warnings = list(warnings)


LAYOUT_KEYS = ("profile", "count", "placement", "compute_instances")
FORMS = ("layout", "requirements", "mig_parted_config", "gpu_layouts", "layout_preset")

#: Named layouts (``layout_preset``) as requirement items that the selection turns into each
#: board's own profiles, keyed by the compute slices of the whole GPU (7: A100, H100, H200,
#: B200; 4: A30, RTX PRO 6000). The same shapes as mig-parted's all-* configs.
LAYOUT_PRESETS = {
    "all-1g": {7: [{"compute_slices": 1, "count": 7}], 4: [{"compute_slices": 1, "count": 4}]},
    "all-2g": {7: [{"compute_slices": 2, "count": 3}], 4: [{"compute_slices": 2, "count": 2}]},
    "all-3g": {7: [{"compute_slices": 3, "count": 2}]},
    "all-balanced": {
        7: [{"compute_slices": 1, "count": 2}, {"compute_slices": 2}, {"compute_slices": 3}],
        4: [{"compute_slices": 1, "count": 2}, {"compute_slices": 2}],
    },
    "all-whole": {7: [{"compute_slices": 7}], 4: [{"compute_slices": 4}]},
}


def desired_state(params, hardware, devices, uses_fabric_partitions=None):
    """{GPU index: DesiredGpu} for the selected ``devices`` (GpuDevice list); for a
    mig-parted config a DesiredState, whose ``warnings`` belong in the module result.

    ``uses_fabric_partitions(index)`` tells requirement-based selection whether the GPU
    belongs to an active NVSwitch fabric partition. Raises InputError before anything
    changes. ``state: disabled`` wants MIG off and no instances on every MIG-capable GPU;
    ``default_layout_preset`` applies when no form is given.
    """
    given = [form for form in FORMS if params.get(form) is not None]
    state = params.get("state")
    if state in ("absent", "disabled"):
        if given:
            raise InputError(given[0], params[given[0]], "cannot be combined with state=%s (which removes every instance)" % state)
        return dict(
            (device.index, DesiredGpu(device.index, state == "absent", ()))
            for device in devices
            if state == "absent" or device.mig_current is not None
        )
    if not given and params.get("default_layout_preset"):
        params = dict(params, layout_preset=params["default_layout_preset"])
        given = ["layout_preset"]
    if len(given) > 1:
        raise InputError(given[1], params[given[1]], "give at most one of %s (got %s)" % (", ".join(FORMS), ", ".join(given)))
    if not given:
        raise InputError("layout", None, "one of %s is required with state=present" % ", ".join(FORMS))
    form = given[0]
    if form == "mig_parted_config":
        return from_mig_parted(params["mig_parted_config"], hardware, devices)
    if form == "gpu_layouts":
        layouts = _gpu_layouts(params["gpu_layouts"], devices)
        devices = [device for device in devices if device.index in layouts]
    desired = {}
    for device in devices:
        profiles = hardware.gpu_instance_profiles(device.index)
        if device.mig_current is None:
            wanted = ()  # refused with the GPU's name when the change is checked
        elif form == "layout":
            wanted = from_layout(params["layout"], profiles)
        elif form == "gpu_layouts":
            wanted = from_layout(layouts[device.index], profiles, "gpu_layouts.%d" % device.index)
        else:
            requirements = params["requirements"] if form == "requirements" else preset_requirements(params["layout_preset"], profiles)
            wanted = from_requirements(
                requirements,
                profiles,
                capabilities_for(device.architecture),
                params.get("sharing_strategy") or "none",
                bool(uses_fabric_partitions and uses_fabric_partitions(device.index)),
            )
        desired[device.index] = DesiredGpu(device.index, True, wanted)
    return desired


def _gpu_layouts(value, devices):
    """{index: layout} of the ``gpu_layouts`` option; every key a selected GPU's index."""
    if not isinstance(value, dict):
        raise InputError("gpu_layouts", value, "must be a mapping of GPU index to layout")
    selected = [device.index for device in devices]
    layouts = {}
    for key, layout in value.items():
        text = str(key).strip()
        if not text.isdigit() or int(text) not in selected:
            raise InputError("gpu_layouts", key, "not the index of a selected GPU", valid=selected)
        layouts[int(text)] = layout
    return layouts


def preset_requirements(name, profiles):
    """Requirement items of layout preset ``name`` on a GPU with ``profiles``."""
    if name not in LAYOUT_PRESETS:
        raise InputError("layout_preset", name, "unknown layout preset", valid=sorted(LAYOUT_PRESETS))
    slices = max(profile.slice_count for profile in profiles)
    if slices not in LAYOUT_PRESETS[name]:
        raise InputError(
            "layout_preset", name, "not defined for GPUs with %d compute slices" % slices,
            valid=sorted(preset for preset, shapes in LAYOUT_PRESETS.items() if slices in shapes),
        )
    return LAYOUT_PRESETS[name][slices]


def from_layout(layout, profiles, option_name="layout"):
    """Wanted list of a ``layout`` option on a GPU with ``profiles``."""
    if not isinstance(layout, list):
        raise InputError(option_name, layout, "must be a list of profile names or mappings")
    wanted = []
    for position, entry in enumerate(layout):
        option = "%s[%d]" % (option_name, position)
        if isinstance(entry, str):
            wanted.extend(_named(entry, profiles, option, 1))
        elif isinstance(entry, dict):
            wanted.extend(_layout_mapping(entry, profiles, option))
        else:
            raise InputError(option, entry, "must be a profile name or a mapping", valid=LAYOUT_KEYS)
    return tuple(wanted)


def _named(name, profiles, option, count, placement=None, compute=None):
    """``count`` Wanted for a profile name (GPU-instance or compute-instance form)."""
    parsed = parse(name, option)
    try:
        profile, _compute_profile = resolve(parsed.gpu_instance_name, profiles, option)
    except InputError as error:
        raise InputError(option, name, error.problem, error.valid)
    if parsed.is_compute_instance:
        if compute is not None:
            raise InputError(option, name, "a compute-instance name cannot be combined with compute_instances; name the GPU instance (%s)" % profile.name)
        compute = (parsed.compute_slices,)
    for slices in compute or ():
        _check_compute_slices(profile, slices, profiles, option)
    return [Wanted(profile, placement, compute)] * count


def _check_compute_slices(profile, slices, profiles, option):
    """Refuse compute-slice counts the GPU instance cannot have (checked fully by the
    device's compute profiles where they are known, else by size)."""
    if slices > profile.slice_count:
        raise InputError(option, "%dc" % slices, "more compute slices than GPU instance %s has (%d)" % (profile.name, profile.slice_count))
    if profile.compute_profiles:
        resolve("%dc.%s" % (slices, profile.name), profiles, option)


def _layout_mapping(entry, profiles, option):
    unknown = sorted(set(entry) - set(LAYOUT_KEYS))
    if unknown:
        raise InputError("%s.%s" % (option, unknown[0]), entry[unknown[0]], "unknown key", valid=LAYOUT_KEYS)
    if not isinstance(entry.get("profile"), str):
        raise InputError("%s.profile" % option, entry.get("profile"), "a profile name is required, such as 1g.10gb")
    count = entry.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InputError("%s.count" % option, count, "must be an integer >= 0")
    compute = entry.get("compute_instances")
    if compute is not None:
        compute = _compute_slices(compute, "%s.compute_instances" % option)
    placement = None
    if entry.get("placement") is not None:
        if count != 1:
            raise InputError("%s.placement" % option, entry["placement"], "a placement names one instance, but count is %d" % count)
        profile, _compute_profile = resolve(parse(entry["profile"], option).gpu_instance_name, profiles, "%s.profile" % option)
        placement = _placement(entry["placement"], profile, "%s.placement" % option)
    return _named(entry["profile"], profiles, "%s.profile" % option, count, placement, compute)


def _compute_slices(names, option):
    """compute_instances entries ("1c", "1c.3g.40gb", "3g.40gb") -> compute-slice counts."""
    if not isinstance(names, list):
        raise InputError(option, names, "must be a list of compute-instance profiles such as 1c.3g.40gb or 1c")
    slices = []
    for name in names:
        text = str(name).strip().lower()
        if text.endswith("c") and text[:-1].isdigit() and int(text[:-1]) > 0:
            slices.append(int(text[:-1]))
        else:
            slices.append(parse(str(name), option).compute_slices)
    return tuple(slices)


def _placement(value, profile, option):
    """A placement given as start (``4``), ``"start:size"`` or ``{start, size}``."""
    valid = ["%d:%d" % (p.start, p.size) for p in profile.placements]
    try:
        if isinstance(value, dict):
            wanted = (int(value["start"]), int(value["size"]) if value.get("size") is not None else None)
        elif isinstance(value, str) and ":" in value:
            start, size = value.split(":", 1)
            wanted = (int(start), int(size))
        else:
            wanted = (int(value), None)
    except (KeyError, TypeError, ValueError):
        raise InputError(option, value, "expected a start slot, 'start:size' or {start, size}", valid=valid)
    for placement in profile.placements:
        if placement.start == wanted[0] and wanted[1] in (None, placement.size):
            return Placement(placement.start, placement.size)
    raise InputError(option, value, "not a placement of %s on this GPU" % profile.name, valid=valid)


def from_requirements(requirements, profiles, capabilities, sharing_strategy, uses_fabric_partitions):
    if not isinstance(requirements, list) or not requirements:
        raise InputError("requirements", requirements, "must be a non-empty list of {memory_gb, compute_slices, media_engines, count}")
    from ._selection import select  # here: only this form needs it, and a module run compiles what it imports

    chosen = select(profiles, requirements, capabilities, sharing_strategy, uses_fabric_partitions)
    return tuple(Wanted(profile, None, None) for profile, count in chosen for _copy in range(count))


def from_mig_parted(option, hardware, devices):
    """DesiredState for the GPUs a mig-parted config selects.

    A profile the GPU does not offer, or a layout that cannot fit even on an empty GPU,
    fails here naming the file, config, entry, GPU and board; a config selecting no GPU of
    the host, or GPU indices it lacks, only warns (mig-parted ignores them).
    """
    keys = ["file", "content", "name"]
    if not isinstance(option, dict) or bool(option.get("file")) == (option.get("content") is not None):
        raise InputError(
            "mig_parted_config", option, "must be a mapping with either 'file' (path) or 'content' (the config), and 'name'", valid=keys
        )
    unknown = sorted(set(option) - set(keys))
    if unknown:
        raise InputError("mig_parted_config.%s" % unknown[0], option[unknown[0]], "unknown key", valid=keys)
    from ._migparted import load  # here: only this form needs it, and a module run compiles what it imports

    try:
        config = load(option.get("file") or option["content"], option.get("name") or None)
    except InputError as error:
        if option.get("name") and error.value == option["name"]:
            raise InputError("mig_parted_config.name", option["name"], "no such config under mig-configs", error.valid)
        raise
    desired = DesiredState(warnings=list(config.warnings) + config.selection_warnings(hardware.healthy_devices()))
    for device in devices:
        entry = config.entry_for(device)
        if entry is None:
            continue
        profiles = hardware.gpu_instance_profiles(device.index)
        items = []
        for name, count in sorted(entry.mig_devices.items()):
            items.extend(_config_profile(config, entry, device, name, profiles, count))
        _check_fits_empty_gpu(config, entry, device, profiles, items)
        desired[device.index] = DesiredGpu(device.index, entry.mig_enabled, tuple(items), entry.mig_enabled)
    return desired


def _gpu_text(device):
    return "GPU %d (%s, PCI device id 0x%08X)" % (device.index, device.name, device.pci_device_id)


def _config_profile(config, entry, device, name, profiles, count):
    """``count`` Wanted of a mig-devices name, or ConfigError naming where and which GPU."""
    from ._migparted import ConfigError

    try:
        return _named(name, profiles, "mig-devices.%s" % name, count)
    except InputError as error:
        raise ConfigError(
            config.source,
            "%s: %s" % (_gpu_text(device), error.problem),
            config=config.name, entry=entry.index, field="mig-devices.%s" % name, value=name, valid=error.valid,
        )


def _check_fits_empty_gpu(config, entry, device, profiles, items):
    """Refuse a config entry whose instances cannot exist together on the GPU at all (memory
    slots, instance counts, media engines), whatever is on it now."""
    from ._migparted import ConfigError
    from ._placement import PlacementError, place

    try:
        place(profiles, [Desired(item.profile, None, ()) for item in items])
    except PlacementError as error:
        raise ConfigError(config.source, "%s: %s" % (_gpu_text(device), error), config=config.name, entry=entry.index, field="mig-devices")


def placement_items(wanted, profiles):
    """_placement.Desired items for the Wanted list on a GPU with ``profiles`` (read now).

    Returns ``(items, deferred)``: ``deferred`` lists the Wanted whose compute profiles the
    GPU cannot name yet (no GPU instance of that profile exists); their items ask for no
    compute instance and the executor adds them after creating the GPU instance.
    """
    current = dict((profile.profile_id, profile) for profile in profiles)
    items, deferred = [], []
    for entry in wanted:
        profile = current.get(entry.profile.profile_id, entry.profile)
        if entry.compute == ():
            items.append(Desired(profile, entry.placement, ()))
        elif not profile.compute_profiles:
            items.append(Desired(profile, entry.placement, ()))
            deferred.append(entry)
        elif entry.compute is None:
            items.append(Desired(profile, entry.placement, None))
        else:
            computes = tuple(resolve("%dc.%s" % (slices, profile.name), profiles)[1] for slices in entry.compute)
            items.append(Desired(profile, entry.placement, computes))
    return items, deferred


def fingerprint(desired_gpu):
    """A JSON-able, order-independent form of a GPU's desired state (journal comparison)."""
    return {
        "mig_enabled": desired_gpu.mig_enabled,
        "wanted": sorted(
            (
                [
                    entry.profile.profile_id,
                    list(entry.placement) if entry.placement else None,
                    None if entry.compute is None else list(entry.compute),
                ]
                for entry in desired_gpu.wanted
            ),
            key=json.dumps,
        ),
    }
