"""``phymo demo``: the whole pipeline on input shipped with phymo, scored against its truth: :mod:`.run` (the
real clip in ``app/demo_clip``, or the synthesized walk) and :mod:`.synthetic` (the walk, its video and
keypoints)."""
