"""Benchmarks of the product as a whole, and the one registry of every benchmark ``phymo bench`` runs.

:data:`~phymo.app.benchmarks.registry.BENCHMARKS` names each benchmark with the function that runs it; a
benchmark lives next to what it measures (the pose, physics and optimizer packages have theirs), and the
ones here measure the whole pipeline: :mod:`.pipeline` (speed per stage), :mod:`.plausibility` and
:mod:`.physics_optimizers` (the optimizers on the pipeline's own windows).
"""
