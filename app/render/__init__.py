"""Pictures of a reconstruction: :mod:`.overlay` (the body drawn over the video, OpenCV) and :mod:`.plots` (loss
and per-frame plausibility figures, matplotlib's object API)."""
