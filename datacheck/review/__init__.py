"""Review decisions: what a person decided about a finding, remembered with the data.

- :mod:`.ids`: a stable id for every finding, from its check, its kind and the content digests
  of the images it names (not their paths), so a rename or a move keeps it.
- :mod:`.decisions`: the decisions file (YAML, one entry per finding id, diffable in a pull
  request): ``ok``, or a fix (``drop``, ``relabel``, ``move``, ``keep-one``).
- :mod:`.marks`: an audit's findings marked reviewed or "fix pending", check statuses without
  the findings decided ``ok``, and decisions whose images are gone (stale).
- :mod:`.fixes`: the fixes applied to a dataset's table (a cleaned manifest; files untouched).
"""
