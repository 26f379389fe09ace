"""`newsbeam run` as a module of its own: `python -m pipeline.launch --config ... [flags]`.

Launchers that run a Python file or module with flags and no sub-command use it: Dataflow flex
templates (FLEX_TEMPLATE_PYTHON_PY_FILE) and Airflow's BeamRunPythonPipelineOperator.
"""

from __future__ import annotations

import sys

from pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
