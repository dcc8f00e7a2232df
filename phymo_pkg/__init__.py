"""phymo: physically plausible 3D human motion from ordinary video.

The sub-packages live at the repository root (``app/ data/ physics/ pose/ optimizer/``) and
install as ``phymo.app``, ``phymo.data``, ... (see ``pyproject.toml``).
"""

__version__ = "0.1.0"
