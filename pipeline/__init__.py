"""newsbeam: the CLI, settings, the pipeline graph and the record schemas."""
