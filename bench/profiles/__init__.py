"""Hardware profiles: the cards a variant is judged for (GTX 1650, RTX 3050, RTX 3080 classes),
detection of the host's own, emulation on a larger GPU, memory-fit estimates and projected latency.

`python -m bench.profiles` lists them and shows the detected one.
"""

from bench.profiles.detect import DeviceDescription, describe_device, detect_class
from bench.profiles.errors import ProfileError
from bench.profiles.select import Emulation, ProfileSelection, plan_emulation, select_profile
from bench.profiles.table import BUILTIN, Profile

__all__ = [
    "BUILTIN",
    "DeviceDescription",
    "Emulation",
    "Profile",
    "ProfileError",
    "ProfileSelection",
    "describe_device",
    "detect_class",
    "plan_emulation",
    "select_profile",
]
