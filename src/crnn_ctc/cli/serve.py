"""``crnn serve``: the HTTP service's options, over ``serve.run_server``."""

from __future__ import annotations

import argparse
import sys

from .common import EXIT_OK, EXIT_USAGE, add_model_options, print_error


def add_command(commands: argparse._SubParsersAction) -> None:
    from ..runtime import BACKENDS
    from ..serve.config import ServeConfig

    defaults = ServeConfig()
    serve = commands.add_parser(
        "serve",
        description=(
            "Serve the model over HTTP (FastAPI + uvicorn): POST /v1/recognize (multipart files or JSON with base64 "
            "images), POST /v1/read (a whole page or PDF), GET /health, /v1/model, /metrics (Prometheus), /docs "
            "(OpenAPI) and a web page at /. "
            "Concurrent requests share forward passes. docs/serving.md has the details."
        ),
    )
    add_model_options(serve)
    engine = serve.add_argument_group("inference")
    engine.add_argument("--backend", choices=BACKENDS, default="auto", help="inference engine (default: %(default)s)")
    engine.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    engine.add_argument("--threads", type=int, metavar="N", help="CPU threads per worker (default: the engine's own)")
    server = serve.add_argument_group("server")
    server.add_argument("--host", default=defaults.host, help="address to listen on (default: %(default)s, loopback)")
    server.add_argument("--port", type=int, default=defaults.port, help="(default: %(default)s)")
    server.add_argument(
        "--workers", type=int, default=defaults.workers, metavar="N",
        help="processes, each with its own model and batcher (default: %(default)s)",
    )  # fmt: skip
    server.add_argument(
        "--log-level", default=defaults.log_level, choices=("critical", "error", "warning", "info", "debug")
    )
    server.add_argument("--access-log", action="store_true", help="log every request (default: off; see /metrics)")
    limits = serve.add_argument_group("limits and batching")
    limits.add_argument(
        "--max-body-mb", type=float, default=defaults.max_body_mb, metavar="MB",
        help="largest request body, enforced while reading (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument("--max-images", type=int, default=defaults.max_images, metavar="N",
                        help="images per request (default: %(default)s)")  # fmt: skip
    limits.add_argument("--max-batch", type=int, default=defaults.max_batch, metavar="N",
                        help="images per forward pass (default: %(default)s)")  # fmt: skip
    limits.add_argument(
        "--batch-wait-ms", type=float, default=defaults.batch_wait_ms, metavar="MS",
        help="how long an idle batcher waits for more images to join the first (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-pixels", type=int, default=defaults.max_pixels, metavar="N",
        help="pixels per image, checked before decoding it (decompression bombs) (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-queue", type=int, default=defaults.max_queue, metavar="N",
        help="images waiting for inference before requests get 503 (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-lexicon-words", type=int, default=defaults.max_lexicon_words, metavar="N",
        help="words in a request's own lexicon; more get 413 (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-lexicon-mb", type=float, default=defaults.max_lexicon_mb, metavar="MB",
        help="size of a request's own lexicon, one word a line; more gets 413 (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-edit-distance", type=int, default=defaults.max_edit_distance, metavar="D",
        help="largest max_edit_distance a request may ask for; more gets 422 (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--request-timeout-s", type=float, default=defaults.request_timeout_s, metavar="S",
        help="a request's work (reading its images, inference, decoding) past this is stopped: 503 "
        "(default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--client-timeout-s", type=float, default=defaults.client_timeout_s, metavar="S",
        help="a request's headers, and then its body, must each arrive within this, else 408 and the connection "
        "is closed (default: %(default)s)",
    )  # fmt: skip
    pages = serve.add_argument_group("pages (POST /v1/read)")
    pages.add_argument(
        "--max-page-pixels", type=int, default=defaults.max_page_pixels, metavar="N",
        help="pixels per page, checked before decoding or rendering it; more get 413 (default: %(default)s)",
    )  # fmt: skip
    pages.add_argument("--max-pages", type=int, default=defaults.max_pages, metavar="N",
                       help="pages in one document; more get 413 (default: %(default)s)")  # fmt: skip
    pages.add_argument("--page-dpi", type=int, default=defaults.page_dpi, metavar="DPI",
                       help="resolution PDF pages are rendered at (default: %(default)s)")  # fmt: skip
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..serve import ServeConfig, run_server

    config = ServeConfig(
        model=args.model, model_dir=args.model_dir, backend=args.backend, device=args.device, threads=args.threads,
        host=args.host, port=args.port, workers=args.workers, max_body_mb=args.max_body_mb,
        max_images=args.max_images, max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms,
        max_pixels=args.max_pixels, max_queue=args.max_queue, max_lexicon_words=args.max_lexicon_words,
        max_lexicon_mb=args.max_lexicon_mb, max_edit_distance=args.max_edit_distance,
        request_timeout_s=args.request_timeout_s, client_timeout_s=args.client_timeout_s, log_level=args.log_level,
        access_log=args.access_log, max_page_pixels=args.max_page_pixels, max_pages=args.max_pages,
        page_dpi=args.page_dpi,
    )  # fmt: skip
    try:
        run_server(config)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: uvicorn finished the requests in flight
        pass
    except SystemExit as stop:  # uvicorn exits on startup failures (port taken...), having logged why
        if stop.code:
            print_error(f"the server could not start on {config.host}:{config.port} (uvicorn's message is above)")
            return EXIT_USAGE
    print("crnn serve: stopped", file=sys.stderr)
    return EXIT_OK
