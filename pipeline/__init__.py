"""newsbeam the program: the CLI, the settings, the graph that wires the stages of `transforms/`,
running it (batch, segmented, streaming) and the summary, the lake's commits, the report and the
evaluations."""
