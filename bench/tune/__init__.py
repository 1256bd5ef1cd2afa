"""`diffbench tune`: the fastest recipe for a card within a quality budget.

The search in four parts, one module each:

- `space`: every recipe the passes allow on the device (each pass declares the stage it acts at
  and the arguments worth trying; the recipe's own compatibility rules say what combines);
- `screen`: what can be said without building: the meta-device memory estimate against the
  profile, MACs, and on a GPU profile the projected step time;
- `race`: successive halving over the survivors, timed interleaved against the baseline by a
  timing source (the suite in a subprocess, or a stub in the tests), quality checked, the budget
  respected;
- `answer`: every candidate with its status and reason, the Pareto front, the winning recipe.

`candidates` holds the types they share; `cli` is the command.
"""
