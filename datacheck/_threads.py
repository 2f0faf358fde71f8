"""Imported first by the package: how OpenMP threads wait, set before torch is loaded.

Threads that wait at a barrier sleep instead of spinning. On a busy machine (another job on
one of 2 cores) torch's default spinning made a 2-thread cross-validation epoch 5-6x slower
than one thread (benchmarks/README.md, "CPU threads"). A user's own setting wins, and it only
takes effect when torch is not imported yet.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
