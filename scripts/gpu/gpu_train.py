"""One-command training on a GPU machine from a bundle of make_bundle.py (docs/gpu_training.md).

In one time budget (--budget, 540 s): install what the machine lacks from the bundle's wheels;
render LMDB shards with every core from the bundled fonts (the bundled model's mix: 55% scene
words, 37% document lines, 8% scene lines), plus a validation shard in held-out font families;
measure the training rate in a short probe run; train for as many steps as fit what is left (the
cosine schedule then ends where the run ends), with a wall-clock guard that stops `crnn train` as
Ctrl-C would (it saves and writes its model) should the estimate be wrong. OUT gets
model.safetensors, config.json, log.csv, curves.png, samples.png, summary.json (and run.log from
train.sh). Standard library only: it runs before anything of ours is installed.
"""

from __future__ import annotations

import argparse
import csv
import json
import lzma
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Share of the training samples per generator preset: the bundled model's recipe
# (scripts/train_pretrained.sh). The first preset also sizes the rest (its first shard measures the rate).
MIX = {"scene-words": 0.55, "document": 0.37, "scene-lines": 0.08}
# Presets rendered with one of the recipe's settings files instead (scripts/synth_settings/, which
# make_bundle.py copies into the bundle): monospace faces for 0.3 of the document lines, half of
# them justified.
SETTINGS_FILES = {"document": "document-justified.json"}
# Render time per image against the first preset's, measured on the development machine in two runs
# of benchmarks/synth_costs.py (2026-11-30): justified document lines 1.29-1.35, scene lines
# 1.25-1.51; rounded up so that rendering ends early rather than late.
RENDER_COST = {"scene-words": 1.0, "document": 1.4, "scene-lines": 1.6}
RESERVE_S = 35.0  # after training: the last validation, model export, curves, copying (and slack)
STOP_GRACE_S = 25.0  # what `crnn train` gets to save and finish after the guard's SIGTERM
STEP_SAFETY = 0.9  # of the steps the measured rate says fit
VALIDATIONS = 6  # per run, so that the best model is picked among a few
OUTPUTS = ("model.safetensors", "config.json", "log.csv", "curves.png")


@dataclass
class Shard:
    name: str
    preset: str
    count: int
    seconds: float  # rendering, as crnn synth measured it
    path: Path


class Pipeline:
    def __init__(self, args: argparse.Namespace, extra: list[str]) -> None:
        self.args = args
        self.extra = extra
        self.started = time.monotonic()
        self.deadline = self.started + args.budget
        self.bundle = Path(args.bundle).resolve()
        self.out = Path(args.out).resolve()
        self.work = Path(args.work or tempfile.mkdtemp(prefix="crnn-gpu-")).resolve()
        self.python = args.python
        self.cores = os.cpu_count() or 1
        self.env = dict(os.environ)
        self.info: dict = json.loads((self.bundle / "bundle.json").read_text(encoding="utf-8"))
        self.summary: dict = {
            "budget_s": args.budget,
            "dry_run": args.dry_run,
            "device": args.device,
            "bundle": {k: self.info.get(k) for k in ("crnn_ctc", "commit", "created", "fonts")},
        }

    # -- helpers -----------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def say(self, message: str) -> None:
        print(f"gpu-train [{self.elapsed():5.0f} s] {message}", flush=True)

    def crnn(self, *arguments: str) -> list[str]:
        return [self.python, "-m", "crnn_ctc", *arguments]

    def run(self, command: list[str], limit: float | None = None) -> tuple[int, bool]:
        return run_limited(command, self.env, limit, self.say)

    # -- 1. install ------------------------------------------------------------------------------
    def install(self) -> None:
        site = self.work / "site"
        site.mkdir(parents=True, exist_ok=True)
        if not self.args.no_wheels:
            started = time.monotonic()
            command = [self.python, str(Path(__file__).with_name("install_bundle.py")), str(self.bundle / "wheels"),
                       str(site)]  # fmt: skip
            if subprocess.run(command, env=self.env).returncode != 0:
                raise SystemExit("gpu-train: installing the bundle's wheels failed (see pip's message above)")
            self.summary["install_s"] = round(time.monotonic() - started, 1)
        self.env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(site), self.env.get("PYTHONPATH")])),
            XDG_CACHE_HOME=str(self.work / "cache"), MPLBACKEND="Agg", PYTHONUNBUFFERED="1",
        )  # fmt: skip
        libs = self.bundle / "lib"
        if libs.is_dir():  # libfribidi: text laid out with HarfBuzz as where the bundle was made
            self.env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(libs), self.env.get("LD_LIBRARY_PATH")]))
        probe = ("import importlib.util, sys, torch, crnn_ctc; from crnn_ctc.synth.fonts import text_layout; "
                 "cuda = torch.cuda.is_available(); "
                 "print(crnn_ctc.__version__, torch.__version__, torch.cuda.get_device_name(0) if cuda else 'no CUDA', "
                 "importlib.util.find_spec('skimage') is not None, text_layout(), sep='\\t')")  # fmt: skip
        result = subprocess.run([self.python, "-c", probe], env=self.env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"gpu-train: cannot import torch and crnn_ctc:\n{result.stderr.strip()}")
        ours, torch_version, gpu, has_skimage, layout = result.stdout.strip().split("\t")
        self.summary.update(crnn_ctc=ours, torch=torch_version, gpu=gpu, text_layout=layout)
        self.say(f"crnn_ctc {ours}, torch {torch_version}, GPU: {gpu}, {self.cores} cores, text laid out by {layout}")
        if self.args.device.startswith("cuda") and gpu == "no CUDA":
            raise SystemExit("gpu-train: --device cuda, but torch sees no CUDA device here (--device cpu: on the CPU)")
        photographs = self.bundle / "natural"
        if has_skimage == "False" and photographs.is_dir():
            # The generator reads its background photographs from scikit-image's data folder, found by
            # import spec without importing it: a namespace folder of that name, lacking __init__.py,
            # is found only where no real scikit-image is installed.
            shutil.copytree(photographs, site / "skimage" / "data", dirs_exist_ok=True)

    # -- 2. fonts and words ------------------------------------------------------------------------
    def prepare_inputs(self) -> None:
        """The bundle's manifest with absolute paths (find_fonts needs files that exist), and the word list."""
        with tarfile.open(self.bundle / "fonts.tar.xz") as archive:
            archive.extractall(self.work, filter="data")
        source = self.work / "fonts" / "manifest.tsv"
        with source.open(encoding="utf-8", newline="") as file:
            rows = list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
        for row in rows:
            row["path"] = str(self.work / "fonts" / row["path"])
        self.fonts = self.work / "fonts.tsv"
        columns = list(rows[0])
        lines = ["\t".join(columns)] + ["\t".join(row[column] or "" for column in columns) for row in rows]
        self.fonts.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.words = self.work / "words.txt"
        with lzma.open(self.bundle / "words.txt.xz", "rb") as packed:
            self.words.write_bytes(packed.read())

    # -- 3. render -------------------------------------------------------------------------------
    def render(self, name: str, preset: str, count: int, seed: int, split: str, limit: float) -> Shard | None:
        out = self.work / "shards" / name
        shutil.rmtree(out, ignore_errors=True)
        if preset in SETTINGS_FILES:
            looks = ["--config", str(self.bundle / "synth_settings" / SETTINGS_FILES[preset])]
        else:
            looks = ["--preset", preset]
        command = self.crnn("synth", "--count", str(count), "--out", str(out), "--charset", self.args.charset,
                            "--fonts", str(self.fonts), "--words", str(self.words), *looks,
                            "--font-split", split, "--seed", str(seed), "--workers", str(self.synth_workers),
                            "--no-progress")  # fmt: skip
        code, stopped = self.run(command, limit)
        if code != 0 or stopped:
            self.say(f"shard {name}: crnn synth {'ran out of time' if stopped else f'failed ({code})'}; left out")
            return None
        record = json.loads((out / "synth.json").read_text(encoding="utf-8"))
        return Shard(name, preset, record["count"], float(record["seconds"]), out)

    def render_all(self) -> tuple[list[Shard], Shard | None]:
        args = self.args
        started = time.monotonic()
        end = started + args.render_seconds
        heldout = sum((self.info.get("fonts") or {}).get("heldout_families", {}).values())
        val_split = "heldout" if heldout else "train"
        validation = self.render("validation", "default", args.val_count, 90_001, val_split, args.render_seconds)
        self.summary["validation"] = {
            "count": validation.count if validation else 0,
            "font_split": val_split,
            "font_families": heldout,
        }
        # A first shard of the first preset measures the rendering rate; the rest is sized to end by
        # --render-seconds.
        lead = next(iter(MIX))
        first_count = 24 if args.dry_run else 400 * self.synth_workers
        first = self.render(f"{lead}-1", lead, first_count, 1, "train", end - time.monotonic())
        if first is None:
            raise SystemExit("gpu-train: rendering the first training shard failed; nothing to train on")
        rate = first.count / max(first.seconds, 1e-3)
        shards = [first]
        if args.dry_run:
            counts = {lead: 24, "document": 8, "scene-lines": 8}
        else:
            # Per-invocation overhead (start, font check) seen on the first shard, paid three more times.
            overhead = max(0.0, time.monotonic() - started - first.seconds - (validation.seconds if validation else 0))
            seconds = max(0.0, (end - time.monotonic() - 3 * overhead / 2) * 0.9)
            per_sample = sum(share * RENDER_COST[preset] for preset, share in MIX.items()) / rate
            total = int(seconds / per_sample) + first.count
            counts = {preset: max(self.synth_workers * 8, round(total * share)) for preset, share in MIX.items()}
            counts[lead] -= first.count
        for number, (preset, count) in enumerate(counts.items(), start=2):
            if count <= 0:
                continue
            name = f"{lead}-2" if preset == lead else preset
            limit = max(end - time.monotonic(), 0) + 30  # an overrun only delays training; a stuck run is cut
            shard = self.render(name, preset, count, number, "train", limit)
            if shard is not None:
                shards.append(shard)
        rendered = sum(shard.count for shard in shards)
        render_s = time.monotonic() - started
        self.summary["render"] = {
            "images": rendered, "seconds": round(render_s, 1), "images_per_s": round(rendered / render_s, 1),
            "first_shard_images_per_s": round(rate, 1), "workers": self.synth_workers,
            "shards": {shard.name: shard.count for shard in shards},
        }  # fmt: skip
        self.say(f"rendered {rendered:,} training images in {render_s:.0f} s ({rendered / render_s:,.0f} images/s "
                 f"with {self.synth_workers} workers, {rate:,.0f}/s while writing the first shard)")  # fmt: skip
        return shards, validation

    @staticmethod
    def train_sources(shards: list[Shard]) -> list[str]:
        """Each shard weighted so that each preset keeps its share of MIX, whatever was rendered."""
        totals = {preset: sum(s.count for s in shards if s.preset == preset) for preset in MIX}
        present = sum(MIX[preset] for preset, total in totals.items() if total)
        return [f"{s.path}@{MIX[s.preset] / present * s.count / totals[s.preset]:.6g}" for s in shards]

    # -- 4. train --------------------------------------------------------------------------------
    def train_command(self, model_dir: Path, sources: list[str], steps: int, amp: str, *, val: Shard | None,
                      log_every: int, val_every: int, warmup: int) -> list[str]:  # fmt: skip
        args = self.args
        command = self.crnn(
            "train", "--train", *sources, "--model-dir", str(model_dir), "--device", args.device, "--amp", amp,
            "--arch", args.arch, "--charset", args.charset, "--batch-size", str(args.batch_size),
            "--max-steps", str(steps), "--warmup-steps", str(warmup), "--workers", str(self.train_workers),
            "--log-every", str(log_every), "--val-every", str(val_every), "--save-every", str(max(val_every, 1)),
            "--seed", str(args.seed), "--no-progress",
        )  # fmt: skip
        if val is not None:
            command += ["--val", str(val.path)]
        if args.lr is not None:
            command += ["--lr", str(args.lr)]
        if self.init_from:
            command += ["--init-from", self.init_from]
        return command + self.extra

    def probe(self, sources: list[str]) -> tuple[float, float, str]:
        """Train a few steps without validation; return samples/s, start-up seconds and the precision
        flag that worked (``--amp off`` is tried once if the first one fails: bf16 kernels are the
        likeliest thing to be missing on an untried GPU)."""
        steps = self.args.probe_steps
        log_every = 1 if self.args.dry_run else max(1, steps // 6)
        for amp in dict.fromkeys((self.args.amp, "off")):
            model_dir = self.work / "probe"
            shutil.rmtree(model_dir, ignore_errors=True)
            started = time.monotonic()
            code, stopped = self.run(self.train_command(model_dir, sources, steps, amp, val=None, log_every=log_every,
                                                        val_every=steps + 1, warmup=0),
                                     self.left() - RESERVE_S)  # fmt: skip
            wall = time.monotonic() - started
            if code == 0 and not stopped:
                break
            self.say(f"probe with --amp {amp} {'ran out of time' if stopped else f'failed ({code})'}")
            if stopped:
                raise SystemExit("gpu-train: no time left after the probe; raise --budget or lower --render-seconds")
        else:
            raise SystemExit("gpu-train: the probe run failed with --amp off too; see crnn train's message above")
        rates = [float(row["samples_per_s"]) for row in read_log(model_dir / "log.csv") if row["samples_per_s"]]
        steady = rates[1:] or rates  # the first window holds CUDA's start and cuDNN's autotuning
        rate = statistics.median(steady)
        startup = max(5.0, wall - steps * self.args.batch_size / rate)
        self.summary["probe"] = {"steps": steps, "seconds": round(wall, 1), "samples_per_s": round(rate, 1),
                                 "startup_s": round(startup, 1), "amp": amp}  # fmt: skip
        self.say(f"probe: {rate:,.0f} samples/s at batch {self.args.batch_size} (--amp {amp}), "
                 f"start-up {startup:.0f} s")  # fmt: skip
        return rate, startup, amp

    def plan_steps(self, rate: float, startup: float, val_count: int) -> int:
        """Steps that fit before the deadline, less start-up, validations and the reserve, times a margin."""
        validation_s = VALIDATIONS * val_count / rate  # inference is faster than training: an upper bound
        seconds = self.left() - RESERVE_S - startup - validation_s
        return math.floor(STEP_SAFETY * seconds * rate / self.args.batch_size)

    def train(self, shards: list[Shard], validation: Shard | None) -> Path:
        sources = self.train_sources(shards)
        rate, startup, amp = self.probe(sources)
        planned = self.plan_steps(rate, startup, validation.count if validation else 0)
        steps = self.args.steps or (4 if self.args.dry_run else planned)
        if steps < 1:
            raise SystemExit(f"gpu-train: no time left to train ({self.left():.0f} s left); raise --budget")
        self.say(f"training {steps:,} steps of {self.args.batch_size} (the time left allows {planned:,})")
        model_dir = self.work / "model"
        shutil.rmtree(model_dir, ignore_errors=True)
        val_every = max(1, steps // VALIDATIONS)
        command = self.train_command(model_dir, sources, steps, amp, val=validation,
                                     log_every=1 if self.args.dry_run else 50, val_every=val_every,
                                     warmup=min(300, steps // 10))  # fmt: skip
        started = time.monotonic()
        code, stopped = self.run(command, self.left() - STOP_GRACE_S - 5)
        train_s = time.monotonic() - started
        log = read_log(model_dir / "log.csv")
        trained = max((int(row["step"]) for row in log if row["loss"]), default=0)
        rates = [float(row["samples_per_s"]) for row in log if row["samples_per_s"]]
        accuracies = [float(row["val_word_accuracy"]) for row in log if row["val_word_accuracy"]]
        self.summary["train"] = {
            "planned_steps": planned, "steps": steps, "logged_steps": trained, "batch_size": self.args.batch_size,
            "seconds": round(train_s, 1), "samples_per_s_median": round(statistics.median(rates), 1) if rates else None,
            "samples_per_s_overall": round(trained * self.args.batch_size / train_s, 1),
            "best_val_word_accuracy": max(accuracies) if accuracies else None,
            "stopped_by_guard": stopped, "exit_code": code, "amp": amp, "workers": self.train_workers,
            "init_from": self.init_from, "extra_flags": self.extra,
        }  # fmt: skip
        config = model_dir / "config.json"
        if config.is_file():
            self.summary["train"]["precision"] = json.loads(config.read_text()).get("resolved", {}).get("precision")
        if code != 0 and not (stopped and (model_dir / "model.safetensors").is_file()):
            raise SystemExit(f"gpu-train: crnn train failed ({code}); see its message above")
        return model_dir

    # -- 5. outputs ------------------------------------------------------------------------------
    def finish(self, model_dir: Path, shards: list[Shard]) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for name in OUTPUTS:
            if (model_dir / name).is_file():
                shutil.copy2(model_dir / name, self.out / name)
        grid = shards[0].path / "samples.png"
        if grid.is_file():
            shutil.copy2(grid, self.out / "samples.png")
        self.summary["total_s"] = round(self.elapsed(), 1)
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=1) + "\n", encoding="utf-8")
        train, render = self.summary["train"], self.summary["render"]
        best = train["best_val_word_accuracy"]
        validation = self.summary["validation"]
        print(
            f"gpu-train: summary: {train['logged_steps']:,} steps x {train['batch_size']} in {train['seconds']:.0f} s: "
            f"{train['samples_per_s_median'] or 0:,.0f} samples/s (log.csv median; "
            f"{train['samples_per_s_overall']:,.0f} overall) on {self.summary['gpu']} ({train.get('precision')}); "
            f"rendered {render['images']:,} images in {render['seconds']:.0f} s ({render['images_per_s']:,.0f}/s); "
            f"best validation word accuracy {'-' if best is None else f'{best:.2%}'} on {validation['count']:,} "
            f"{validation['font_split']}-font images; {self.summary['total_s']:.0f} s of {self.args.budget:.0f}; "
            f"outputs in {self.out}",
            flush=True,
        )  # fmt: skip

    def bundled_model(self) -> str:
        """The package's pretrained model: installed with it (--no-wheels), else in the checkout that
        holds this script (the bundle's wheel leaves it out; the device tool carries the checkout)."""
        installed = subprocess.run(
            [self.python, "-c", "from crnn_ctc.bundle import BUNDLED_MODEL as m; print(m)"], env=self.env,
            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        checkout = Path(__file__).resolve().parents[2] / "src" / "crnn_ctc" / "assets" / Path(installed).name
        for path in (Path(installed), checkout):
            if path.is_file():
                return str(path)
        raise SystemExit(f"gpu-train: --init-from bundled: neither {installed} nor {checkout} exists; pass the file")

    def run_all(self) -> None:
        args = self.args
        self.synth_workers = args.synth_workers or (min(2, self.cores) if args.dry_run else self.cores)
        default_workers = 0 if args.dry_run else max(1, self.cores - 2)
        self.train_workers = args.workers if args.workers is not None else default_workers
        self.say(f"bundle {self.bundle} (crnn_ctc {self.info.get('crnn_ctc')}, {self.info.get('commit')}); "
                 f"work in {self.work}; budget {args.budget:.0f} s")  # fmt: skip
        self.install()
        self.init_from = args.init_from
        if self.init_from == "bundled":
            self.init_from = self.bundled_model()
        self.prepare_inputs()
        shards, validation = self.render_all()
        model_dir = self.train(shards, validation)
        self.finish(model_dir, shards)
        if not args.keep_work and not args.work:
            shutil.rmtree(self.work, ignore_errors=True)


def run_limited(command: list[str], env: dict[str, str], limit: float | None, say=print) -> tuple[int, bool]:
    """Run ``command`` (its output goes to ours); past ``limit`` seconds send it SIGTERM, which `crnn`
    handles like Ctrl-C (saves, cleans up, exits), then SIGKILL its process group after STOP_GRACE_S.
    Returns the exit code and whether the limit stopped it."""
    process = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        return process.wait(timeout=None if limit is None else max(limit, 1.0)), False
    except subprocess.TimeoutExpired:
        say(f"time limit reached: stopping {' '.join(command[2:4])} (SIGTERM)")
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_GRACE_S), True
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait(), True
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def read_log(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    parser = argparse.ArgumentParser(
        prog="train.sh", description=__doc__.split("\n\n")[1].replace("\n", " "),
        epilog="Flags after -- go to crnn train as they are.",
    )  # fmt: skip
    parser.add_argument("bundle", help="folder written by scripts/gpu/make_bundle.py")
    parser.add_argument("out", help="folder for the model, config.json, log.csv, curves.png, summary.json")
    parser.add_argument("--budget", type=float, default=540, help="seconds for everything (default: %(default)s)")
    parser.add_argument("--render-seconds", type=float, default=120, help="for rendering (default: %(default)s)")
    parser.add_argument("--device", default="cuda", help="(default: %(default)s)")
    parser.add_argument("--amp", default="auto", help="crnn train --amp (default: %(default)s; off if it fails)")
    parser.add_argument("--arch", default="small", help="(default: %(default)s)")
    parser.add_argument("--charset", default="printable+space", help="(default: %(default)s)")
    parser.add_argument("--batch-size", type=int, help="(default: 256; 8 with --dry-run)")
    parser.add_argument("--lr", type=float, help="(default: crnn train's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", help="fine-tune from a model file; 'bundled': the package's model")
    parser.add_argument("--steps", type=int, help="train this many steps instead of what the time allows")
    parser.add_argument("--probe-steps", type=int, help="steps of the rate probe (default: 120; 3 with --dry-run)")
    parser.add_argument("--val-count", type=int, help="validation images (default: 2000; 16 with --dry-run)")
    parser.add_argument("--workers", type=int, help="data loading processes (default: cores - 2)")
    parser.add_argument("--synth-workers", type=int, help="rendering processes (default: all cores)")
    parser.add_argument("--work", help="folder for shards and runs (default: a temporary folder, removed at the end)")
    parser.add_argument("--keep-work", action="store_true", help="keep the temporary work folder")
    parser.add_argument("--no-wheels", action="store_true", help="install nothing: use the crnn_ctc this Python has")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="tiny counts, 3 probe steps and 4 training steps: checks the pipeline (with --device cpu)",
    )
    parser.add_argument("--python", default=sys.executable, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    small = args.dry_run
    args.batch_size = args.batch_size or (8 if small else 256)
    args.probe_steps = args.probe_steps or (3 if small else 120)
    args.val_count = args.val_count or (16 if small else 2000)
    return args, extra


def main(argv: list[str]) -> int:
    args, extra = parse_args(argv)
    Pipeline(args, extra).run_all()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
