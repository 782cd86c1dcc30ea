"""The training loop the reconstruction networks share: one-cycle AdamW, validation every 100 steps, the best
weights kept.

Both networks are judged by a validation score, not by their last step: the
data are small and they overfit, so the step that validates best is the one
kept (workdir/best.pt, loaded back at the end).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from ..progress import Feedback

Validation = Tuple[float, Dict[str, float], str]   # score (lower is better), history fields, log text


def train_keep_best(model, steps: int, learning_rate: float, workdir: Path, step_loss: Callable[[], object],
                    validate: Callable[[], Validation], feedback: Optional[Feedback] = None,
                    max_minutes: Optional[float] = None, label: str = "step") -> Tuple[List[Dict], float]:
    """Train `model` for `steps` steps of `step_loss()` (a scalar tensor); returns (history, best score).

    Stops after the first validation past `max_minutes`.
    """
    import torch
    feedback = feedback or Feedback()
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, learning_rate, total_steps=steps)
    workdir.mkdir(parents=True, exist_ok=True)
    best, history, start = float("inf"), [], time.monotonic()
    for step in range(steps):
        feedback.check()
        loss = step_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()   # type: ignore[attr-defined]
        opt.step()
        sched.step()
        feedback.set_progress(100.0 * (step + 1) / steps)
        if (step + 1) % 100 == 0 or step + 1 == steps:
            model.eval()
            with torch.inference_mode():
                score, fields, text = validate()
            model.train()
            train_loss = float(loss.item())   # type: ignore[attr-defined]
            history.append({"step": step + 1, "train_loss": round(train_loss, 5), **fields})
            feedback.info(f"{label} {step + 1}: train {train_loss:.4f}, validation {text}")
            if score < best:
                best = score
                torch.save(model.state_dict(), workdir / "best.pt")
            if max_minutes and (time.monotonic() - start) / 60 > max_minutes:
                break
    model.load_state_dict(torch.load(workdir / "best.pt", weights_only=True))
    model.eval()
    return history, best
