"""How the person's height and the camera's focal length were obtained, and what to say where they are guesses.

Depth and size of a monocular reconstruction follow both: a body 10 % too tall is placed 10 % too far
from the camera, and so is one seen through a focal length 10 % too long. ``phymo reconstruct``
writes this record into ``report.json`` (``input.guesses``) and prints each weak guess with the option
that replaces it.
"""

from __future__ import annotations

from phymo.data import Observations


def guesses(obs: Observations, camera_source: str) -> dict:
    """``{"height_m", "height_source", "focal_px", "focal_source", "weak": [console lines]}`` for a kinematic fit."""
    height = obs.kinematic.skeleton.height()
    given = obs.meta.get("kinematic_fit", {}).get("skeleton_scale_from") == "given"
    out = {"height_m": height, "height_source": "given (--height)" if given else "assumed: an average adult",
           "focal_px": obs.camera.fx, "focal_source": camera_source, "weak": []}
    if not given:
        out["weak"].append(f"the person's height ({height:.2f} m) is assumed, not measured: size and distance "
                           "scale with it; pass --height METRES if you know it")
    if camera_source.startswith("assumed"):
        out["weak"].append(f"the focal length ({obs.camera.fx:.0f} px) is an {camera_source}: distance scales "
                           "with it; pass --focal PX or --calibration FILE if you know it")
    return out
