"""The training loop: variable-width CTC training with exact resume, AMP, DDP and honest validation."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import re
import signal
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..bundle import ModelBundle, load_bundle, save_bundle
from ..charset import BLANK, Charset
from ..data.readers import Batch
from ..data.sampler import WidthBucketSampler
from ..decode import GreedyDecoder
from ..errors import ConfigError, CrnnError
from ..evaluate import Report
from ..model import CRNN
from ..runtime import resolve_device

# Registers the synth: scheme with sources.py, which never imports it (no cycle): a run opens synth: specs.
from . import synthetic  # noqa: F401
from .checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from .cnn_head import WithCnnHead
from .config import TrainConfig
from .distributed import Distributed, setup_distributed
from .ema import WeightAverage
from .initial import initial_bundle, run_charset
from .logs import TrainingLog
from .optimization import learning_rate_schedule, make_optimizer
from .precision import choose_precision
from .sources import (
    EpochPlan,
    PlannedBatch,
    PoolCollator,
    PreparedSource,
    RunPools,
    RunSamples,
    SourceMixture,
    collate_for_training,
    parse_source,
    prepare_source,
)

Reporter = Callable[[str], None]


class TrainingError(CrnnError):
    """Training cannot go on (persistent non-finite losses, inconsistent resume...)."""


@dataclass
class TrainResult:
    model_path: Path
    steps: int
    best_accuracy: float | None
    stopped: str
    skipped_steps: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


def _ignore_interrupts(worker_id: int) -> None:
    """Data workers leave Ctrl-C and kills to the main process, which checkpoints, then stops them.
    Once the run's data has ended (``RunSamples.stopping``), a SIGTERM (the loader's last resort for
    a worker that does not stop) ends the worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    info = torch.utils.data.get_worker_info()
    stopping = getattr(info.dataset, "stopping", None) if info is not None else None

    def on_terminate(signum: int, frame: object) -> None:
        if stopping is not None and stopping.is_set():
            os._exit(0)

    signal.signal(signal.SIGTERM, on_terminate)


def improves(accuracy: float, cer: float, best_accuracy: float | None, best_cer: float | None) -> bool:
    """Whether a validation beats the best so far: higher word accuracy, or the same with a lower CER
    (on 2,000 words accuracy moves in steps of 0.05 points, and late in a run ties are common)."""
    if best_accuracy is None or accuracy > best_accuracy:
        return True
    return accuracy == best_accuracy and best_cer is not None and cer < best_cer


class Trainer:
    """One training run. Build it, then ``run()``; ``report`` receives the lines a person should see."""

    def __init__(self, config: TrainConfig, *, resume: bool = False, progress: bool = True,
                 report: Reporter = lambda line: None) -> None:  # fmt: skip
        config = config.with_sources()  # the seed's data_dir layout, as `crnn train --data_dir` takes it
        self.config = config
        self.progress = progress
        self.dist: Distributed = setup_distributed()
        self.report = report if self.dist.is_main else (lambda line: None)
        self.model_dir = Path(config.model_dir)
        self.device = self.dist.device or resolve_device(config.device)
        torch.manual_seed(config.seed)
        resume_state = load_checkpoint(self.model_dir / "checkpoints" / "last.pt", self.device) if resume else None
        if resume_state is not None and config.charset is None:
            # The alphabet the run began with, not the one its data states now (a shard folder may have grown).
            charset, self.charset_origin = Charset(resume_state["charset"]), "the checkpoint's (the run resumes)"
        else:
            charset, self.charset_origin = run_charset(config, self.report)
        # What a TFRecord without a char_map.json numbers its labels in: only the user's own --charset.
        self.label_numbers = Charset.resolve(config.charset) if config.charset is not None else None
        self.bundle = initial_bundle(config, charset, self.report)
        self.precision = choose_precision(config.amp, self.device)
        self.model = self.bundle.model.to(self.device)
        self.freeze_bn = config.freezes_batch_norm
        set_training(self.model, True, self.freeze_bn)
        if self.precision.channels_last:  # oneDNN's CPU convolutions, pooling and batch norm are fastest in NHWC
            # In place; Module.to takes memory_format at run time, though torch's stubs omit it.
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.geometry = self.bundle.config
        self.cnn_ctc_weight = config.cnn_ctc_weight
        if resume_state is not None and "cnn_head" not in resume_state:
            self.cnn_ctc_weight = 0.0  # a run started without the head resumes as it began
        # What the optimiser trains: the model, with the training-only CNN head where it has one.
        self.trainable: nn.Module = WithCnnHead(self.model).to(self.device) if self.cnn_ctc_weight else self.model
        self.network: nn.Module = self.dist.wrap(self.trainable)
        self.ema = WeightAverage(self.model, config.ema_decay) if config.ema_decay else None
        self.train_sources = self._prepare(config.train, "train")
        self.val_sources = self._prepare(config.val, "validation") if config.val else []
        self.plan = EpochPlan(
            self.train_sources, config.batch_size, epoch_size=config.epoch_size, seed=config.seed,
            num_replicas=self.dist.world_size, rank=self.dist.rank,
        )  # fmt: skip
        self.batches_per_epoch = self.plan.batches_per_epoch()
        epochs = config.epochs if config.epochs is not None else (None if config.max_steps else 10)
        self.total_steps = config.max_steps or (epochs or 1) * self.batches_per_epoch
        self.optimizer = make_optimizer(config, self.trainable.parameters())
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, learning_rate_schedule(config, self.total_steps)
        )
        self.amp_dtype = self.precision.dtype
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)
        self.decoder = GreedyDecoder(charset)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best_accuracy: float | None = None
        self.best_cer: float | None = None
        self.validations_without_gain = 0
        self.skipped_steps = 0
        self.skipped_samples = 0
        if resume_state is not None:
            self._resume(resume_state)
        self.log = TrainingLog(self.model_dir, enabled=self.dist.is_main, resume_step=self.step if resume else None)

    # -- setup --------------------------------------------------------------------------------
    def _prepare(self, specs: list[str], role: str) -> list[PreparedSource]:
        prepared = []
        for spec in specs:
            source = prepare_source(parse_source(spec), self.bundle.charset, self.bundle.preprocess, self.geometry,
                                    seed=self.config.seed + (0 if role == "train" else 1),
                                    label_numbers=self.label_numbers)  # fmt: skip
            dropped = ", ".join(f"{reason}: {count:,}" for reason, count in source.dropped.items())
            usable = "rendered on the fly" if source.infinite else f"{len(source.usable):,} usable samples"
            hint = " (--charset names the alphabet to train)" if source.dropped["symbols outside the charset"] else ""
            self.report(
                f"{role} source {source.name}: {usable}" + (f" ({dropped} dropped up front){hint}" if dropped else "")
            )
            if role == "validation" and not source.infinite and not source.usable:
                if not dropped:  # an empty split (an older run may have saved one in its config.json)
                    self.report(f"validation source {source.name} is empty: left out")
                    continue
                # Samples there, none usable: scoring nothing would print 0.00% as if it were a result, and
                # choose the best model by it.
                raise ConfigError(
                    f"validation source {source.name}: no usable sample ({dropped} dropped); "
                    "validate on another source, or train the alphabet its labels use (--charset)"
                )
            prepared.append(source)
        return prepared

    def _state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best_accuracy": self.best_accuracy,
            "best_cer": self.best_cer,
            "validations_without_gain": self.validations_without_gain,
            "skipped_steps": self.skipped_steps,
            "charset": list(self.bundle.charset.symbols),
            "arch": self.geometry.arch,
            # Where the run started (--init-from's path and digest): a resume keeps this record
            # rather than reading the path again, which may name another file by then.
            "provenance": dict(self.bundle.provenance),
            "rng": capture_rng_state(),
            **({"cnn_head": self.trainable.head.state_dict()} if isinstance(self.trainable, WithCnnHead) else {}),
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
        }

    def _resume(self, state: dict[str, Any]) -> None:
        if state["arch"] != self.geometry.arch or state["charset"] != list(self.bundle.charset.symbols):
            raise TrainingError(
                f"{self.model_dir}: the checkpoint is a {state['arch']} model over another charset; resume with "
                "the options it was started with (they are in config.json)"
            )
        self.model.load_state_dict(state["model"])
        if "provenance" in state:  # checkpoints written before it was kept have none
            self.bundle.provenance = dict(state["provenance"])
        if isinstance(self.trainable, WithCnnHead):
            self.trainable.head.load_state_dict(state["cnn_head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        for name in ("step", "epoch", "batch_in_epoch", "best_accuracy", "validations_without_gain", "skipped_steps"):
            setattr(self, name, state[name])
        self.best_cer = state.get("best_cer")  # absent from checkpoints written before it was kept
        if self.ema is not None:
            if "ema" in state:
                self.ema.load_state_dict(state["ema"])
            else:
                self.ema = WeightAverage(self.model, self.ema.decay)  # the average starts at the resumed weights
                self.report("the checkpoint has no weight average (the run began without --ema-decay): it starts here")
        restore_rng_state(state["rng"])
        self.report(f"resumed from step {self.step:,} (epoch {self.epoch}, batch {self.batch_in_epoch})")

    # -- one step -----------------------------------------------------------------------------
    def _forward_loss(self, batch: Batch) -> torch.Tensor:
        images = torch.from_numpy(batch.images).to(self.device, non_blocking=True)
        widths = torch.from_numpy(batch.widths).to(self.device)
        padded = bool((widths < images.shape[-1]).any())
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            outputs = self.network(images, widths if padded else None)
        log_probs, cnn_log_probs = outputs if isinstance(outputs, tuple) else (outputs, None)
        lengths = self.model.output_lengths(widths)
        targets = torch.from_numpy(batch.targets).to(self.device)
        target_lengths = torch.from_numpy(batch.target_lengths).to(self.device)
        loss = self.ctc(log_probs.float().transpose(0, 1), targets, lengths, target_lengths)
        if cnn_log_probs is not None:
            cnn_loss = self.ctc(cnn_log_probs.float().transpose(0, 1), targets, lengths, target_lengths)
            loss = loss + self.cnn_ctc_weight * cnn_loss
        return loss

    def _train_step(self, batch: Batch) -> float | None:
        """One optimiser step; None if it was skipped because the loss or gradients were not finite."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._forward_loss(batch)
        if not self.dist.all_true(bool(torch.isfinite(loss))):
            return None
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        norm = nn.utils.clip_grad_norm_(self.trainable.parameters(), self.config.grad_clip)
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.update()
            return None
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)
        return float(loss.detach())

    # -- validation ---------------------------------------------------------------------------
    @property
    def evaluated_model(self) -> CRNN:
        """What validation reads with and the run saves: the weight average where there is one."""
        return cast(CRNN, self.ema.model) if self.ema is not None else self.model

    def validate(self) -> Report | None:
        if not self.val_sources:
            return None
        model = self.evaluated_model
        was_training = model.training
        model.eval()
        report = Report(self.config.val_protocol)
        examples: list[tuple[str, str]] = []
        mixture = SourceMixture(self.val_sources)
        keys = [(k, i) for k, source in enumerate(self.val_sources) for i in source.usable]
        if self.config.val_limit is not None:
            keys = keys[: self.config.val_limit]
        widths = [self.val_sources[k].widths[i] for k, i in keys]
        sampler = WidthBucketSampler(widths, self.config.batch_size, shuffle=False)
        with torch.inference_mode():
            for positions in sampler:
                batch = collate_for_training([mixture[keys[p]] for p in positions])
                images = torch.from_numpy(batch.images).to(self.device)
                widths_tensor = torch.from_numpy(batch.widths).to(self.device)
                log_probs = model(images, widths_tensor)
                lengths = self.model.output_lengths(widths_tensor)
                decoded = self.decoder.decode(log_probs.float().cpu().numpy(), lengths.cpu().numpy())
                for label, result in zip(batch.labels, decoded, strict=True):
                    report.add(label, result.text, result.confidence)
                    if len(examples) < 5 and label != result.text:
                        examples.append((label, result.text))
        set_training(model, was_training, self.freeze_bn)
        shown = "  ".join(f"{label!r}->{text!r}" for label, text in examples[:3])
        self.report(
            f"step {self.step:,}: validation word accuracy {report.word_accuracy:.2%} ({report.protocol}), "
            f"CER {report.cer:.2%}, 1-NED {report.one_minus_ned:.3f} on {report.samples:,}"
            + (f"; e.g. {shown}" if shown else "")
        )
        return report

    # -- outputs ------------------------------------------------------------------------------
    def _export(self, name: str, accuracy: float | None) -> Path:
        provenance = {
            "trained_steps": self.step,
            "train_sources": self.config.train,
            "validation_word_accuracy": accuracy,
            "validation_protocol": self.config.val_protocol if accuracy is not None else None,
            "training_config": "config.json beside this file",
        }
        if self.ema is not None:
            provenance["weight_average"] = f"exponential moving average, decay {self.ema.decay:g} per step"
        model = self.evaluated_model
        bundle = ModelBundle(model, self.bundle.charset, self.bundle.preprocess,
                             {**self.bundle.provenance, **provenance})  # fmt: skip
        was_training = model.training
        model.eval()
        path = save_bundle(bundle, self.model_dir / name)
        set_training(model, was_training, self.freeze_bn)
        return path

    def _checkpoint(self, name: str = "last.pt") -> None:
        if self.dist.is_main:
            save_checkpoint(self._state(), self.model_dir / "checkpoints" / name)

    def _after_validation(self, report: Report | None) -> bool:
        """Save the best model; return True when early stopping says stop."""
        if report is None or not self.dist.is_main:
            return False
        self.log.validation(self.step, report)
        if improves(report.word_accuracy, report.cer, self.best_accuracy, self.best_cer):
            self.best_accuracy, self.best_cer = report.word_accuracy, report.cer
            self.validations_without_gain = 0
            self._export("best.safetensors", report.word_accuracy)
            self._checkpoint("best.pt")
            return False
        self.validations_without_gain += 1
        return self.config.patience is not None and self.validations_without_gain >= self.config.patience

    # -- the loop -----------------------------------------------------------------------------
    def _synth_layout(self) -> dict[str, str]:
        """How ``synth:`` sources lay their text out (synth.fonts.text_layout), for config.json: the same
        seed renders other images under the other engine. Empty when no source is rendered."""
        if not any(source.infinite for source in self.train_sources):
            return {}
        from ..synth.fonts import text_layout

        return {"text_layout": text_layout()}

    def _announce(self) -> None:
        """The run's folder and config.json, and the lines that say how it will train."""
        if self.dist.is_main:
            self.model_dir.mkdir(parents=True, exist_ok=True)
            self.config.save(self.model_dir / "config.json", precision=self.precision.name,
                             layout=self.precision.layout,
                             augment="on" if self.config.augments else "off", cnn_ctc=self.cnn_ctc_weight,
                             freeze_bn="on" if self.freeze_bn else "off",
                             charset="".join(self.bundle.charset.symbols), charset_from=self.charset_origin,
                             lr=self.scheduler.base_lrs[0],
                             **self._synth_layout())  # fmt: skip
        symbols = "".join(self.bundle.charset.symbols)
        shown = symbols if len(symbols) <= 40 else symbols[:37] + "..."
        self.report(f"charset: {len(symbols)} symbols {shown!r}, {self.charset_origin}")
        peak = self.scheduler.base_lrs[0]  # after a resume, the run's own (an older default may have set it)
        origin = self.config.learning_rate_origin if peak == self.config.learning_rate else "as the run began"
        self.report(f"learning rate: {peak:g} ({origin}), "
                    f"{self.config.optimizer}, {self.config.schedule} schedule")  # fmt: skip
        self.report(f"precision: {self.precision.name}{' + channels_last' if self.precision.channels_last else ''} "
                    f"({self.precision.reason})")  # fmt: skip
        if any(not source.infinite for source in self.train_sources):
            why = "" if self.config.augment != "auto" else (
                " (auto: starting from a trained model)" if self.config.augments else " (auto: training from scratch)"
            )  # fmt: skip
            self.report(f"augmentation of stored images: {'on' if self.config.augments else 'off'}{why}")
        if self.freeze_bn:
            self.report("batch norm: statistics kept as loaded" + (" (auto: starting from a trained model)"
                        if self.config.freeze_bn == "auto" else ""))  # fmt: skip
        if self.cnn_ctc_weight:
            self.report(f"training-only CTC head on the CNN's features: loss weight {self.cnn_ctc_weight:g}"
                        + (" (auto: training from scratch)" if self.config.cnn_ctc is None else ""))  # fmt: skip
        self.report(
            f"training {self.geometry.arch} ({sum(p.numel() for p in self.model.parameters()):,} parameters) on "
            f"{self.device} x{self.dist.world_size}: {self.total_steps:,} steps, {self.batches_per_epoch:,} "
            f"batch{'es' if self.batches_per_epoch != 1 else ''} "
            f"of {self.config.batch_size} per epoch"
        )

    def _count_step(self, planned: PlannedBatch, loss: float | None, consecutive_bad: int) -> int:
        """Move the step, the data position and the schedule on after one batch; count a skipped
        (non-finite) step, and stop the run after ``max_bad_steps`` of them in a row. Returns the new
        count of consecutive bad steps."""
        self.step += 1
        self.epoch, self.batch_in_epoch = planned.next_position
        with warnings.catch_warnings():
            # A skipped (non-finite) step leaves the optimiser unstepped; the schedule still moves on.
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
            self.scheduler.step()
        self.skipped_samples += planned.samples.skipped
        if loss is not None:
            return 0
        self.skipped_steps += 1
        if consecutive_bad + 1 >= self.config.max_bad_steps:
            raise TrainingError(
                f"the loss or its gradients were NaN/inf for {consecutive_bad + 1} steps in a row (step "
                f"{self.step}); lower --lr, keep --grad-clip on, try --amp off, or check the data "
                "with `crnn dataset inspect`"
            )
        return consecutive_bad + 1

    def run(self) -> TrainResult:
        from tqdm import tqdm

        self._announce()
        stopped = "finished"
        consecutive_bad = 0
        window_samples, window_started, losses = 0, time.perf_counter(), []
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not (self.progress and self.dist.is_main),
                   unit="step", dynamic_ncols=True)  # fmt: skip
        try:
            # A finished run that is resumed has nothing left to load.
            batches: Iterable[PlannedBatch] = self._batches() if self.step < self.total_steps else ()
            for planned in batches:
                batch = planned.samples
                loss = self._train_step(batch)
                consecutive_bad = self._count_step(planned, loss, consecutive_bad)
                if loss is not None:
                    losses.append(loss)
                window_samples += len(batch.labels) * self.dist.world_size
                bar.update(1)
                if self.step % self.config.log_every == 0 and losses:
                    elapsed = time.perf_counter() - window_started
                    rate = window_samples / elapsed if elapsed > 0 else 0.0
                    lr = self.optimizer.param_groups[0]["lr"]
                    mean_loss = float(np.mean(losses))
                    bar.set_postfix(loss=f"{mean_loss:.3f}", lr=f"{lr:.2e}", samples_s=f"{rate:.0f}")
                    self.log.train(self.step, planned.epoch, mean_loss, lr, rate, self.skipped_steps)
                    window_samples, window_started, losses = 0, time.perf_counter(), []
                if self.step % self.config.val_every == 0 or self.step == self.total_steps:
                    report = self.validate() if self.dist.is_main else None
                    self.dist.barrier()
                    if self.dist.any_true(self._after_validation(report)):
                        stopped = f"early stop: no gain in {self.config.patience} validations"
                if self.step % self.config.save_every == 0 or self.step == self.total_steps:
                    self._checkpoint()
                if self.step >= self.total_steps or stopped != "finished":
                    break
        except (KeyboardInterrupt, RuntimeError) as error:
            if isinstance(error, RuntimeError) and not _worker_was_terminated(error):
                raise
            # A SIGTERM to the process group also kills the data workers; PyTorch's SIGCHLD handler would
            # then raise in the middle of the checkpoint below (or instead of the KeyboardInterrupt).
            # No more batches are needed, so the handler goes before the checkpoint is written.
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self._checkpoint()
            stopped = "interrupted (resume with --resume)"
        finally:
            bar.close()
            if isinstance(batches, Generator):
                batches.close()  # stops the data workers now, not when the generator is collected
        return self._finish(stopped)

    def _batches(self) -> Generator[PlannedBatch]:
        """The run's batches from the checkpointed position on, across epochs, through one data loader
        whose workers start once, not once an epoch (a ``synth:`` worker loads the whole font set).
        Its items are pools (``sources.POOL_BATCHES``), each cut into batches of similar real width;
        after a resume inside a pool, that pool's batches before the position are passed over."""
        start = (self.epoch, self.batch_in_epoch)
        samples = RunSamples(
            self.train_sources, augment=self.bundle.preprocess if self.config.augments else None,
            seed=self.config.seed, stopping=multiprocessing.Event(),
        )  # fmt: skip
        loader = DataLoader(
            samples,
            batch_sampler=RunPools(self.plan, self.epoch, self.batch_in_epoch),
            num_workers=self.config.workers, collate_fn=PoolCollator(self.config.batch_size, self.config.seed),
            # One pool in flight per worker: a pool is thousands of images, and with two, a short run
            # loaded three times what it trained on (docs/benchmarks.md, "cut by real width").
            worker_init_fn=_ignore_interrupts, prefetch_factor=1 if self.config.workers else None,
            # Its own generator (for the workers' seeds), so loading draws nothing from the
            # training's random state, which a checkpoint restores.
            generator=torch.Generator().manual_seed(self.config.seed),
        )  # fmt: skip
        pools = iter(loader)  # held here: leaving the loop below must not shut the workers down yet
        try:
            for pool in pools:
                for planned in pool:
                    if (planned.epoch, planned.batch) >= start:
                        yield planned
        finally:
            # A worker loading a pool would finish all of it (seconds) before it stops; told first that
            # the run has ended, it passes over the rest, so the loader's shutdown (below) is prompt.
            samples.stop()
            del pools

    def _finish(self, stopped: str) -> TrainResult:
        path = self.model_dir / "model.safetensors"
        if self.dist.is_main:
            best = self.model_dir / "best.safetensors"
            if self.best_accuracy is not None and best.is_file():
                # The model a user gets is the best one validation saw, rewritten as the newest file.
                best_bundle = load_bundle(best)
                save_bundle(best_bundle, path)
            else:
                self._export("model.safetensors", None)
            self.log.close()
            self.log.plot(self.model_dir / "curves.png")
        self.dist.close()
        if self.skipped_samples:
            self.report(f"{self.skipped_samples:,} unreadable samples were skipped during training")
        return TrainResult(path, self.step, self.best_accuracy, stopped, self.skipped_steps,
                           dict(sum((s.dropped for s in self.train_sources), Counter())))  # fmt: skip


def _keep_freed_memory() -> None:
    """Variable-width batches allocate differently sized tensors every step; glibc hands large
    blocks back to the kernel and faults them in again (measured here: 70k page faults/s, a
    tenth of the step time in the kernel). Raising its mmap and trim thresholds keeps them."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD (32 MiB is glibc's ceiling)
    libc.mallopt(-1, 256 * 1024 * 1024)  # M_TRIM_THRESHOLD


# oneDNN (PyTorch's CPU convolutions) keeps up to 1,024 compiled primitives, one per input shape, each
# with scratch memory of its own. Nearly every batch width is a new shape, so its cache fills with
# primitives used once or twice: the main process of a run held 2.3 GB after 96 batches of words,
# 1.0-1.2 GB with 32, at the same speed (benchmarks/train_memory.py, docs/benchmarks.md).
ONEDNN_CACHE_CAPACITY = 32


def set_training(model: nn.Module, training: bool, freeze_batch_norm: bool) -> None:
    """``model.train(training)``, with its batch norm layers left in eval mode when ``freeze_batch_norm``:
    they normalise with the statistics loaded, and keep them (their scale and shift still learn)."""
    model.train(training)
    if training and freeze_batch_norm:
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d):
                module.eval()


def _bound_primitive_cache() -> None:
    """Caps oneDNN's primitive cache (read at its first use, so before the first step); a capacity the
    user set (``ONEDNN_PRIMITIVE_CACHE_CAPACITY``) stays."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(ONEDNN_CACHE_CAPACITY))


def train(config: TrainConfig, *, resume: bool = False, progress: bool = True,
          report: Reporter = lambda line: None) -> TrainResult:  # fmt: skip
    """Train a model as ``config`` says (``crnn train`` takes the same options); see ``Trainer``.

    Args:
        config: every option of the run (``TrainConfig``); ``model_dir`` receives the model file,
            checkpoints, ``log.csv``, ``config.json`` and the curves.
        resume: continue the run in ``model_dir`` exactly from its last checkpoint.
        progress: show a progress bar on stderr.
        report: called with each line of the run's log (validation results, the precision chosen).

    Returns:
        ``TrainResult``: the model file written, the steps run and the best validation accuracy.

    Example::

        from crnn_ctc.training import TrainConfig, train

        result = train(TrainConfig(train=["synth:"], val=["synth:preset=clean"], model_dir="runs/tiny",
                                   arch="tiny", max_steps=20, batch_size=8, val_every=10, val_limit=16))
        print(result.model_path)
    """
    _keep_freed_memory()
    _bound_primitive_cache()
    return Trainer(config, resume=resume, progress=progress, report=report).run()


def _worker_was_terminated(error: RuntimeError) -> bool:
    """PyTorch's error for a data worker killed by SIGTERM or SIGINT: the run is being interrupted."""
    message = str(error)
    return "DataLoader worker" in message and ("Terminated" in message or "Interrupt" in message)
