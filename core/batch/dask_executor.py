"""Handing the scenes of a batch to a Dask distributed cluster.

Each scene is one task running core.batch.jobs.process_scene on a worker; the
workers must see the products and the output folder under the same paths
(a shared file system).  When a worker dies mid-scene, the scheduler gives
the task to another worker (up to distributed's allowed-failures, 3 by
default); the rerun removes the dead run's hidden temporaries and writes the
outputs anew, and a scene whose record is already there is not redone, so
every scene ends up done once or reported failed, never lost.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from .jobs import FAILED, CANCELLED, BatchOptions, failed_row, process_scene, scene_name
from ..errors import InputError
from ..io.gdal_cache import limit_gdal_cache
from ..progress import Feedback

GPU_RESOURCE = "GPU"


def _client(scheduler):
    try:
        from distributed import Client
    except ImportError as exc:
        raise InputError("Scaling out needs Dask: pip install 'dask[distributed]' (into the environment of this "
                         "program and of every worker).") from exc
    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(str(scheduler), timeout="20s"), True
    except (OSError, TimeoutError) as exc:
        raise InputError(f"Cannot reach the Dask scheduler at {scheduler}: {exc}. Start it (dask scheduler) and "
                         "its workers, or check the address (tcp://host:8786).") from exc


def _process_on_worker(product: str, out: str, options: BatchOptions) -> Dict:
    """process_scene in a worker process, which runs only CloudFree: a small GDAL cache (core.io.gdal_cache)."""
    limit_gdal_cache()
    return process_scene(product, out, options)


def run_on_dask(products: Sequence[Path], indexes: Sequence[int], out: Path, options: BatchOptions, scheduler,
                gpu_workers: bool, feedback: Feedback) -> Dict[int, Dict]:
    """Rows of the given products, keyed by their `indexes`, as the cluster finishes them."""
    from distributed import as_completed
    if not products:
        return {}
    client, owned = _client(scheduler)
    try:
        if gpu_workers:
            options = BatchOptions(**{**options.__dict__, "device": "cuda" if options.device == "auto"
                                      else options.device})
        resources = {GPU_RESOURCE: 1} if gpu_workers else None
        if gpu_workers:
            workers = client.scheduler_info().get("workers", {}).values()
            if not any(w.get("resources", {}).get(GPU_RESOURCE) for w in workers):
                raise InputError(f"No worker of the cluster declares a {GPU_RESOURCE} resource, so GPU scenes would "
                                 f"wait forever; start GPU workers with: dask worker <scheduler> --resources "
                                 f"'{GPU_RESOURCE}=1' (one per GPU), or run without GPU workers.")
        futures = {}
        for i, p in zip(indexes, products):
            fut = client.submit(_process_on_worker, str(p), str(out), options, key=f"cloudfree-scene-{scene_name(p)}-{i}",
                                pure=False, resources=resources)
            futures[fut] = (i, p)
        rows: Dict[int, Dict] = {}
        for n, fut in enumerate(as_completed(list(futures)), start=1):
            i, p = futures[fut]
            if feedback.is_cancelled():
                client.cancel(list(futures))
                rows.update({j: failed_row(q, CANCELLED, "cancelled") for j, q in futures.values() if j not in rows})
                break
            try:
                rows[i] = fut.result()
            except Exception as exc:  # the task's own error, or KilledWorker after repeated worker deaths
                rows[i] = failed_row(p, FAILED, f"{type(exc).__name__}: {exc}")
                feedback.info(f"{scene_name(p)} failed: {exc}")
            else:
                feedback.info(f"[{n}/{len(futures)}] {scene_name(p)} done by {rows[i].get('worker', '?')}")
            feedback.set_progress(100.0 * n / len(futures))
        return rows
    finally:
        if owned:
            client.close()


def dask_executor(scheduler, gpu_workers: bool):
    """run_on_dask behind the executor interface of core.batch.runner (per-scene progress stays on the workers)."""
    def execute(products: List[Path], todo: List[int], out: Path, options: BatchOptions, feedback: Feedback,
                scene_feedback: Optional[Callable[[str], Feedback]] = None) -> Dict[int, Dict]:
        return run_on_dask([products[i] for i in todo], todo, out, options, scheduler, gpu_workers, feedback)
    return execute


__all__ = ["run_on_dask", "dask_executor", "GPU_RESOURCE"]
