"""The pipeline's steps: the only code that talks to MLflow and the filesystem.

Each step is a command with explicit inputs and outputs (``python -m ml.steps train --help``);
that command line is the contract the local runner, the container image and the cloud backends
all call. Exit codes tell the caller what happened without parsing text:

====  ==========================================================
0     done
1     error (the message on stderr says what; nothing stored is lost)
2     the input data or arguments were refused (message names file, lines, column)
3     promote only: the challenger was rejected by the gate (not a failure)
====  ==========================================================
"""

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_REJECTED = 0, 1, 2, 3
EXPERIMENT = "transformer-load"
