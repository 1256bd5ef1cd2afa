"""Where a row's VRAM was measured, whether the profile's cap held it, and the fit it implies.

torch's allocator sees only torch's tensors. An exported variant on ONNX Runtime's CUDA
provider allocates in ORT's own arena, so its `peak_vram_allocated_mib` is near zero and the
emulated profile's cap (torch's memory fraction) does not bind it: the row would "fit" any card.
For such rows the figure to trust is NVML's (this process's memory, or the device's growth
where NVML cannot see the process), and whether it fits the profile is decided from that figure,
not from having run (optimize/export/vram.py says per runtime which applies).
"""

from __future__ import annotations

from typing import Any

from bench.collectors import FinishedRun, collector
from optimize.export.vram import NVML_DEVICE_DELTA, pipeline_vram_accounting


# After the profile fit (order 10): for runtimes outside torch's allocator it decides `fits` from NVML.
@collector(order=90)
def vram_accounting(run: FinishedRun) -> dict[str, Any]:
    fields = pipeline_vram_accounting(run.variant.pipeline, run.config.device)
    selection = run.config.hardware
    if fields["vram_source"] != NVML_DEVICE_DELTA or selection is None or not selection.emulation.emulated:
        return fields
    limit_mib = selection.profile.vram_mib
    measured = run.row.get("peak_vram_nvml_mib")
    if measured is None:
        fields.update(
            fits=None, fit_note=f"{fields['vram_cap_note']}; NVML gave no figure, so the fit is unknown"
        )
    else:
        fits = measured <= limit_mib
        fields.update(
            fits=fits,
            fit_note=(
                f"uncapped runtime: NVML peak {measured:.0f} MiB {'within' if fits else 'over'} "
                f"{selection.profile.name}'s {limit_mib:.0f} MiB"
            ),
        )
    return fields
