"""A batch: find the products, skip the scenes done before, run the rest on an executor, write the summary."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

from ..progress import Feedback
from .jobs import (DONE_BEFORE, BatchOptions, BatchResult, Inputs, ScenePaths, check_out_dir, find_products,
                   finished_row, scene_name, write_summary)
from .local import run_here

#: (products, indexes to process, output folder, options, overall progress, per-scene progress) -> rows by index
Executor = Callable[[List[Path], List[int], Path, BatchOptions, Feedback, Optional[Callable[[str], Feedback]]],
                    Dict[int, Dict]]


def run_batch(inputs: Inputs, out_dir: Union[str, Path], options: Optional[BatchOptions] = None,
              scheduler: Optional[object] = None, gpu_workers: bool = False, feedback: Optional[Feedback] = None,
              scene_feedback: Optional[Callable[[str], Feedback]] = None) -> BatchResult:
    """Process every product; scenes done before are skipped; a failed scene is reported, not fatal.

    `scheduler`: a Dask scheduler address (or a distributed.Client) to hand
    the scenes to; None runs them here, the next scene's reading starting
    while the current one is masked.  `gpu_workers`: ask Dask for workers
    with a "GPU" resource.  `scene_feedback`: makes a progress reporter per
    scene (the command line's per-scene bar); `feedback` gets the overall
    progress and the cancel request.
    """
    feedback = feedback or Feedback()
    options = options or BatchOptions()
    started = time.perf_counter()
    products = find_products(inputs)
    out = check_out_dir(out_dir, products)
    rows: Dict[int, Dict] = {}
    todo = []
    for i, p in enumerate(products):
        earlier = finished_row(ScenePaths(out, scene_name(p)), options)
        if earlier is not None:
            rows[i] = dict(earlier, status=DONE_BEFORE)
        else:
            todo.append(i)
    feedback.info(f"{len(products)} product(s): {len(rows)} done before, {len(todo)} to process "
                  f"{'on the Dask cluster at ' + str(scheduler) if scheduler else 'here'}.")
    executor: Executor = run_here
    if scheduler is not None:
        from .dask_executor import dask_executor  # deferred: dask is needed only to scale out
        executor = dask_executor(scheduler, gpu_workers)
    rows.update(executor(products, todo, out, options, feedback, scene_feedback))
    ordered = [rows[i] for i in range(len(products))]
    csv_path, json_path = write_summary(ordered, out)
    counts: Dict[str, int] = {}
    for r in ordered:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return BatchResult(ordered, csv_path, json_path, time.perf_counter() - started, counts)
