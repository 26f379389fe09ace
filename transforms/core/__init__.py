"""What every stage shares: records and schemas, settings sections, dead letters, stable ids,
metric names and progress lines. Nothing here imports a stage."""
