"""newsbeam's Dask runner: Beam's DaskRunner with the translation defects that break this
pipeline fixed, so the same graph runs on a Dask cluster as on every other runner.

Beam's runner (`apache_beam.runners.dask`, 2.77) translates the graph into Dask bags, but:

1. it computes only the last transform it visits, so of several sinks only one runs;
2. every output of a multi-output ParDo gets all of its elements (tagged outputs are not split);
3. it collects a DoFn's outputs before `finish_bundle`, losing what is emitted there
   (`BatchElements`' last batch, the feed fetcher's last hosts);
4. it has no metrics: counters incremented on workers are dropped and `result.metrics()`
   raises, and the run summary is built from counters.

5. a side input is iterated lazily inside every task that reads it, recomputing its whole
   upstream graph (spaCy included) once per partition;
6. each partition gets a new DoFn instance (setup and teardown per partition), so per-worker
   resources such as the spaCy model are loaded again and again;
7. a `Create` of fewer than 128 items is one partition and a GroupByKey keeps its input's
   partition count, so a pipeline that starts from a few file patterns runs on one worker
   from end to end, however large the cluster.

Here each ParDo bundle (a Dask partition) runs under a state sampler with its own
`MetricsContainer`, as Beam's own executors do, and returns its counters beside its outputs;
outputs are collected after `finish_bundle`; a consumer of a tagged output gets that tag's
elements only; a side input is one graph node computed once and handed whole to every task;
a step's DoFn is set up once per worker process and run (like other runners, which reuse
DoFn instances; teardown comes with the worker's end); every leaf of the graph (and every
bundle's counters) is computed; a Create is split over the cluster's threads and a GroupByKey
shuffles into at least twice as many partitions as the cluster has threads (`--dask_npartitions`
sets both). What the runner does not do (state and timers, so no
streaming) is unchanged.

    newsbeam run --config configs/dask.yaml                       # a LocalCluster of dask.workers
    newsbeam run --config configs/dask.yaml --dask_client_address=tcp://scheduler:8786
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics.execution import MetricKey, MetricResult, MetricsContainer
from apache_beam.metrics.metric import MetricResults
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor
from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler
from apache_beam.runners.dask import dask_runner as beam_dask
from apache_beam.runners.dask import transform_evaluator as evaluator
from apache_beam.runners.dask.overrides import dask_overrides
from apache_beam.runners.runner import PipelineState
from apache_beam.runners.worker import statesampler
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.utils.counters import CounterFactory

DaskOptions = beam_dask.DaskOptions


class _Counters(NamedTuple):
    """The counters one bundle incremented, travelling in its output bag to the driver."""

    values: dict[MetricKey, int]


@dataclasses.dataclass(frozen=True)
class _SideInput:
    """How a ParDo reads one side input; its values come computed, as a list."""

    view_type: Any  # the view's class (AsList, AsDict...), which Beam's SideInputMap annotates as an instance
    view_options: dict[str, Any]
    window_mapping_fn: Any


class _Values:
    """A computed side input, iterated as windowed values (what `SideInputMap` expects)."""

    def __init__(self, values: list[Any], window_fn: Any):
        self._values, self._window_fn = values, window_fn

    def __iter__(self) -> Iterator[Any]:
        for value in self._values:
            yield evaluator.get_windowed_value(value, self._window_fn)


# Set-up DoFns of this worker process, by (run, step): reused across the partitions of a run.
_WORKER_FNS: dict[tuple[str, str], beam.DoFn] = {}


def _set_up(run: str, label: str, fn: beam.DoFn) -> beam.DoFn:
    key = (run, label)
    if key not in _WORKER_FNS:
        for stale in [k for k in _WORKER_FNS if k[0] != run]:  # an earlier run's steps
            _WORKER_FNS.pop(stale).teardown()
        fn = copy.deepcopy(fn)  # the graph's own copy stays unset-up: workers still send it to each other
        fn.setup()
        _WORKER_FNS[key] = fn
    return _WORKER_FNS[key]


def _run_bundle(
    items: Iterable[Any],
    fn: beam.DoFn,
    window_fn: Any,
    label: str,
    run: str,
    sides: list[_SideInput],
    args: list[Any],
    kwargs: dict[str, Any],
    *side_values: list[Any],
) -> list[Any]:
    """One ParDo bundle: every element through the step's DoFn (set up once per worker), outputs
    collected after finish_bundle, counters collected in a container of the step's own."""
    fn = _set_up(run, label, fn)
    side_inputs = [
        SideInputMap(side.view_type, side.view_options, _Values(values, side.window_mapping_fn))
        for side, values in zip(sides, side_values, strict=True)
    ]
    receivers = evaluator.OneReceiver()
    handler = _OutputHandler(
        window_fn=window_fn,
        main_receivers=receivers[None],
        tagged_receivers=receivers,
        per_element_output_counter=None,
        output_batch_converter=None,
        process_yields_batches=False,
        process_batch_yields_elements=False,
    )
    container = MetricsContainer(label)
    sampler = statesampler.StateSampler(label, CounterFactory())
    sampler.start()
    try:
        with sampler.scoped_state(label, "process", metrics_container=container):
            invoker = DoFnInvoker.create_invoker(
                DoFnSignature(fn),
                handler,
                context=DoFnContext(label, state=None),
                side_inputs=side_inputs or None,
                input_args=args,
                input_kwargs=kwargs,
                user_state_context=None,
                bundle_finalizer_param=beam.DoFn.BundleFinalizerParam(),
            )
            invoker.invoke_start_bundle()
            for item in items:
                invoker.invoke_process(item)
            invoker.invoke_finish_bundle()
    finally:
        sampler.stop()
    outputs = [
        pvalue.TaggedOutput(v.tag, v.value.value) if isinstance(v, pvalue.TaggedOutput) else v.value
        for v in receivers.values
    ]
    counters = {key: int(value) for key, value in container.get_cumulative().counters.items() if value}
    return outputs + ([_Counters(counters)] if counters else [])


class _Create(evaluator.Create):
    partitions = 1  # set by the visitor

    def apply(self, input_bag: Any, side_inputs: Any = None) -> Any:
        import dask.bag as db

        if self.bag_kwargs.get("npartitions") or self.bag_kwargs.get("partition_size"):
            return super().apply(input_bag, side_inputs)
        items = self.transform.values
        return db.from_sequence(items, npartitions=max(1, min(len(items), self.partitions)))


def _group_value(item: tuple[Any, list[Any]]) -> tuple[Any, list[Any]]:
    key, values = item
    return key, [evaluator.defenestrate(value[1]) for value in values]


class _GroupByKey(evaluator.GroupByKey):
    partitions = 1  # set by the visitor

    def apply(self, input_bag: Any, side_inputs: Any = None) -> Any:
        if input_bag.npartitions < self.partitions:  # Dask's task shuffle keeps the input's partitions
            input_bag = input_bag.repartition(self.partitions)
        return input_bag.groupby(_first, npartitions=input_bag.npartitions).map(_group_value)


def _first(item: tuple[Any, Any]) -> Any:
    return item[0]


class _ParDo(evaluator.ParDo):
    run = ""  # the run's token, set by the visitor

    def apply(self, input_bag: Any, side_inputs: Any = None) -> Any:
        import dask

        transform = self.transform
        args, kwargs = transform.raw_side_inputs
        main_input = next(iter(self.applied.main_inputs.values()))
        window_fn = main_input.windowing.windowfn if hasattr(main_input, "windowing") else None
        sides, side_values = zip(*side_inputs) if side_inputs else ((), ())
        return input_bag.map(evaluator.get_windowed_value, window_fn).map_partitions(
            _run_bundle,
            dask.delayed(transform.fn, pure=True),
            window_fn,
            self.applied.full_label,
            self.run,
            list(sides),
            list(args),
            kwargs,
            *side_values,
        )


_OURS = {evaluator.ParDo: _ParDo, evaluator.Create: _Create, evaluator.GroupByKey: _GroupByKey}
_TRANSLATIONS: dict[type, Any] = {kind: _OURS.get(op, op) for kind, op in evaluator.TRANSLATIONS.items()}


def _only(tag: Optional[str]) -> Any:
    """The filter of one output of a ParDo's bag: its main output (tag None) or a tagged one."""
    if tag is None:
        return lambda item: not isinstance(item, (pvalue.TaggedOutput, _Counters))
    return lambda item: isinstance(item, pvalue.TaggedOutput) and item.tag == tag


def _untag(item: Any) -> Any:
    return item.value if isinstance(item, pvalue.TaggedOutput) else item


def _concat(*partitions: list[Any]) -> list[Any]:
    return [item for partition in partitions for item in partition]


def _materialised(bag: Any) -> Any:
    """A bag as one graph node holding all its items: computed once, read by every task."""
    import dask

    return dask.delayed(_concat, pure=True)(*bag.to_delayed(optimize_graph=False))


@dataclasses.dataclass
class _BagVisitor(PipelineVisitor):
    """Beam's translation visitor, with tagged outputs split and the graph's leaves remembered."""

    bag_kwargs: dict[str, Any]
    run: str
    threads: int  # of the cluster: how many partitions keep it busy
    bags: dict[AppliedPTransform, Any] = dataclasses.field(default_factory=collections.OrderedDict)
    consumed: set[AppliedPTransform] = dataclasses.field(default_factory=set)

    def bag_of(self, pcoll: pvalue.PValue) -> Any:
        producer = pcoll.producer
        assert producer is not None, f"{pcoll} has no producer"
        self.consumed.add(producer)
        bag = self.bags.get(producer)
        if bag is None or not isinstance(producer.transform, beam.ParDo):
            return bag
        tag = None if pcoll.tag in (None, "None") else pcoll.tag
        return bag.filter(_only(tag)).map(_untag)

    def visit_transform(self, transform_node: AppliedPTransform) -> None:
        op_class = _TRANSLATIONS.get(transform_node.transform.__class__, evaluator.NoOp)
        op = op_class(transform_node, bag_kwargs=self.bag_kwargs)
        if isinstance(op, _ParDo):
            op.run = self.run
        if isinstance(op, _Create):
            op.partitions = self.threads
        if isinstance(op, _GroupByKey):
            op.partitions = self.bag_kwargs.get("npartitions") or 2 * self.threads
        kwargs: dict[str, Any] = {"input_bag": None, "side_inputs": None}
        inputs = [i for i in transform_node.inputs if not isinstance(i, pvalue.PBegin)]
        if inputs:
            bags = [self.bag_of(i) for i in inputs]
            kwargs["input_bag"] = bags[0] if len(bags) == 1 and not isinstance(op, evaluator.Flatten) else bags
        if transform_node.side_inputs:
            kwargs["side_inputs"] = [
                (
                    _SideInput(type(si), si._view_options(), si._window_mapping_fn),  # pylint: disable=protected-access
                    _materialised(self.bag_of(si.pvalue)),
                )
                for si in transform_node.side_inputs
            ]
        self.bags[transform_node] = op.apply(**kwargs)

    def leaves(self) -> list[Any]:
        return [bag for node, bag in self.bags.items() if node not in self.consumed]

    def counters(self) -> list[Any]:
        return [
            bag.filter(lambda item: isinstance(item, _Counters))
            for node, bag in self.bags.items()
            if isinstance(node.transform, beam.ParDo)
        ]


class _Metrics(MetricResults):
    def __init__(self, counters: dict[MetricKey, int]):
        self._counters = counters

    def query(self, filter: Any = None) -> dict[str, list[MetricResult]]:  # pylint: disable=redefined-builtin
        counters = [
            MetricResult(key, value, value) for key, value in self._counters.items() if self.matches(filter, key)
        ]
        return {
            self.COUNTERS: counters,
            self.DISTRIBUTIONS: [],
            self.GAUGES: [],
            self.STRINGSETS: [],
            self.BOUNDED_TRIES: [],
        }


class DaskRunnerResult(beam_dask.DaskRunnerResult):
    """Waits for every leaf; then the counters of all bundles, summed, are the metrics."""

    def __init__(self, client: Any, futures: list[Any], counter_futures: list[Any]):
        super().__init__(client, futures + counter_futures)
        self._counter_futures = counter_futures
        self._metrics: Optional[_Metrics] = None

    def wait_until_finish(self, duration: Optional[int] = None) -> str:
        """The final state; then the client is closed (left open, it kept the cluster's worker
        processes alive after the LocalCluster closed, polling a scheduler that was gone)."""
        try:
            state = super().wait_until_finish(duration)
            if state == PipelineState.DONE and self._metrics is None:
                totals: dict[MetricKey, int] = collections.defaultdict(int)
                for counters in self._bundle_counters():
                    for key, value in counters.values.items():
                        totals[key] += value
                self._metrics = _Metrics(dict(totals))
        except BaseException:
            self.client.close()
            raise
        if PipelineState.is_terminal(state):
            self.client.close()
        return state

    def _bundle_counters(self) -> Iterator[_Counters]:
        for future in self._counter_futures:
            yield from future.result()

    def metrics(self) -> MetricResults:
        if self._metrics is None:
            raise RuntimeError("metrics are known once the pipeline has finished (wait_until_finish)")
        return self._metrics


class DaskRunner(beam_dask.DaskRunner):
    """Executes a pipeline on a Dask distributed cluster (see the module's notes)."""

    def run_pipeline(self, pipeline: beam.Pipeline, options: Any) -> DaskRunnerResult:
        import dask.distributed as ddist

        dask_options = options.view_as(DaskOptions).get_all_options(drop_default=True, current_only=True)
        bag_kwargs = DaskOptions._extract_bag_kwargs(dask_options)  # pylint: disable=protected-access
        client = ddist.Client(**dask_options)
        pipeline.replace_all(dask_overrides())
        visitor = _BagVisitor(bag_kwargs, uuid.uuid4().hex, max(1, sum(client.nthreads().values())))
        pipeline.visit(visitor)
        leaves, counters = visitor.leaves(), visitor.counters()
        # Not optimised: fusion would copy a shared task (a sink's finalisation) into each chain
        # that reads it, running it once per chain; unfused, each task has one key and runs once.
        futures = client.compute(leaves + counters, optimize_graph=False)
        return DaskRunnerResult(client, futures[: len(leaves)], futures[len(leaves) :])
