"""`diffbench gpu-check ...`: the checks of the CUDA paths on a real GPU (`python -m bench.gpu_check`)."""

from bench.commands import delegate

SUMMARY = "check the CUDA paths on this machine's GPU and write a results page (python -m bench.gpu_check)"
main = delegate("bench.gpu_check")
