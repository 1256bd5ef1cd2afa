"""Ready-made studies: one command each, running the suite and writing a table and a plot.

`python -m bench.studies STUDY ...` runs `pytest bench/` (in a subprocess, once or several
times) into a storage folder of its own, then `python -m reports STUDY-TABLE` over that
folder, so the table and plot can be made again later from the saved runs without torch.
Each study is one module here that exposes `register(commands)`; see `cli.py`.
"""
