"""nbval runs the snapshots here; their kernels inherit this process's environment, so files a
notebook writes through rl.reporting.output_path() go to a scratch folder, not into the repo."""
from __future__ import annotations

import os
import tempfile

_scratch = tempfile.TemporaryDirectory(prefix="rl-nbval-")
os.environ.setdefault("RETENTION_LAB_RUN_DIR", _scratch.name)
