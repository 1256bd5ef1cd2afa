"""`diffbench fleet`: the suite across a Ray cluster whose nodes advertise their hardware profile.

One module per job: `ray_import` (importing Ray safely here), `resources` (what a node advertises),
`cluster` (connect, list nodes by profile), `tasks` (a Ray task that runs the ordinary suite in a
subprocess on its node), `storage` (the driver writes the runs that came back), `cli`.
Ray is imported only inside these modules' functions, so `diffbench --help` starts without it.
"""
