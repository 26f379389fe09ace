"""What differs between runners, checked or prepared before a job runs.

- Remote runners (Dataflow, Flink, Spark) run on other machines: every path the workers read
  or write (inputs, output, state, the dedup index) must be on a shared filesystem (gs://,
  s3://, hdfs://), and Dataflow needs a project, a region and a gs:// temp location. A path or
  a placeholder (`YOUR_PROJECT`) that cannot work is a one-line configuration error, before
  anything is staged. The taxonomy and actor files are read at launch and travel inside the
  graph, so they may stay local.
- The Dask runner gets a LocalCluster of `dask.workers` processes when no
  `--dask_client_address` is given, started before the run and closed after it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions

from pipeline.config import Settings
from transforms.core.settings import ConfigError

REMOTE_RUNNERS = ("DataflowRunner", "FlinkRunner", "SparkRunner")
DASK_RUNNER = "pipeline.dask_runner.DaskRunner"
PLACEHOLDER = "YOUR_"  # how the shipped configs mark what a user must fill in
_LOG = logging.getLogger(__name__)


def runner_name(options: PipelineOptions) -> str:
    return str(options.view_as(StandardOptions).runner)


def is_remote_runner(options: PipelineOptions) -> bool:
    """Whether the runner's workers are other machines (they cannot see local paths)."""
    return runner_name(options).rsplit(".", 1)[-1] in REMOTE_RUNNERS


def check_remote(settings: Settings, options: PipelineOptions) -> None:
    """Paths and options a remote runner's workers can use, or a ConfigError naming the key."""
    if not is_remote_runner(options):
        return
    runner = runner_name(options)
    paths = [("input.paths", p) for p in settings.input.paths] + [("output.dir", settings.output.dir)]
    paths += [("state_dir", settings.state_path)]
    if settings.dedup.index:
        paths.append(("dedup.index_dir", settings.index_path))
    paths += [
        ("feeds.sources", s.url) for s in settings.feeds.sources if "://" not in s.url or s.url.startswith("file:")
    ]
    for key, path in paths:
        if PLACEHOLDER in path:
            raise ConfigError(f"{key}: replace the placeholder in {path!r} with your bucket or path")
        if FileSystems.get_scheme(path) in (None, "file"):
            raise ConfigError(
                f"{key}: {path!r} is a local path, which {runner} workers cannot reach; "
                "use a shared filesystem (gs://, s3://, hdfs://)"
            )
    if runner.endswith("DataflowRunner"):
        google = options.view_as(GoogleCloudOptions)
        for key, value in (
            ("project", google.project),
            ("region", google.region),
            ("temp_location", google.temp_location),
        ):
            if not value or PLACEHOLDER in value:
                raise ConfigError(
                    f"beam.{key}: set it for Dataflow (configs/dataflow.yaml has a placeholder), or pass --{key}"
                )
        if not str(google.temp_location).startswith("gs://"):
            raise ConfigError(f"beam.temp_location: Dataflow needs a gs:// location, got {google.temp_location!r}")


@contextlib.contextmanager
def dask_cluster(settings: Settings, options: PipelineOptions) -> Iterator[None]:
    """A LocalCluster for the Dask runner when no scheduler address is given; nothing otherwise."""
    if runner_name(options) != DASK_RUNNER:
        yield
        return
    from pipeline.dask_runner import DaskOptions

    dask_options = options.view_as(DaskOptions)
    if dask_options.address or dask_options.scheduler_file:
        yield
        return
    try:
        from distributed import LocalCluster
    except ImportError:
        raise ConfigError("the Dask runner needs Dask: pip install 'newsbeam[dask]'") from None
    with LocalCluster(
        n_workers=settings.dask.workers,
        threads_per_worker=settings.dask.threads_per_worker,
        processes=True,
        dashboard_address=None,
    ) as cluster:
        _LOG.info(
            "started a Dask LocalCluster of %d worker processes at %s", settings.dask.workers, cluster.scheduler_address
        )
        dask_options.address = cluster.scheduler_address  # the dest of --dask_client_address
        yield
