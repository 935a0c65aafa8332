"""``crnn bench``: images/s and latency per backend, batch size and width."""

from __future__ import annotations

import argparse

from .common import EXIT_OK, add_model_options


def add_command(commands: argparse._SubParsersAction) -> None:
    from ..runtime import BACKENDS

    bench = commands.add_parser(
        "bench",
        description="Time the model's engines on generated inputs; print a table and plot latency vs width.",
    )
    add_model_options(bench)
    bench.add_argument(
        "--backend", nargs="+", choices=BACKENDS, default=["torch", "onnx", "auto"],
        help="auto is what crnn predict uses (on a CPU: the model's int8 graph if it ships one and the CPU has VNNI, "
        "else onnx)",
    )  # fmt: skip
    bench.add_argument("--batch-sizes", type=_int_list, default=[1, 64], metavar="N,N")
    bench.add_argument("--widths", type=_int_list, default=[100, 200, 400, 800], metavar="W,W")
    bench.add_argument("--threads", type=int, metavar="N", help="CPU threads per engine (default: the engine's own)")
    bench.add_argument("--repeats", type=int, default=5)
    plot = bench.add_mutually_exclusive_group()
    plot.add_argument("--plot", default="bench.png", metavar="PNG", help="latency vs width (default: %(default)s)")
    plot.add_argument("--no-plot", dest="plot", action="store_const", const=None, help="print the table only")
    bench.set_defaults(handler=run)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive whole numbers, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    import torch

    from ..bench import format_table, plot_latency, run_bench
    from ..bundle import load_bundle, resolve_model_path
    from ..runtime import set_threads

    set_threads(args.threads)
    bundle = load_bundle(resolve_model_path(args.model, args.model_dir))
    rows = run_bench(bundle, args.backend, args.batch_sizes, args.widths, threads=args.threads, repeats=args.repeats)
    threads = args.threads or torch.get_num_threads()
    print(f"{bundle.path} ({bundle.config.arch}), {threads} thread(s), median of {args.repeats} repeats\n")
    print(format_table(rows))
    if args.plot:
        print(f"\nlatency vs width: {plot_latency(rows, args.plot)}")
    return EXIT_OK
