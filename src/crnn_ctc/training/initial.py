"""Where a run starts: the alphabet it trains (``run_charset``), and a fresh model or one continued from
another model file (``--init-from``), even for another charset."""

from __future__ import annotations

from collections.abc import Callable

from ..bundle import ModelBundle, file_sha256, load_bundle, new_bundle, read_model_info
from ..charset import BLANK, Charset
from ..data.readers import stated_charset
from ..errors import ConfigError
from ..preprocess import PreprocessConfig
from . import synthetic  # noqa: F401  (registers synth:, which parse_source must know to leave it alone)
from .config import TrainConfig
from .sources import parse_source

Reporter = Callable[[str], None]

DEFAULT_CHARSET = "lower-alnum"  # the seed's char_map: what a run trains when nothing names another


def run_charset(config: TrainConfig, report: Reporter) -> tuple[Charset, str]:
    """The alphabet a run trains, and where it came from. ``--charset`` when given. Otherwise the one the
    training data states (``char_map.json``, an LMDB's metadata: the alphabet ``crnn dataset create`` checked
    the labels against), so a dataset made with ``--charset alnum`` trains on its capitals instead of
    dropping them. With ``--init-from``, the model's own alphabet, plus any symbol the data states that it
    lacks: fine-tuning never silently shrinks a model's alphabet. Else lower-alnum, the seed's."""
    if config.charset is not None:
        return Charset.resolve(config.charset), f"from --charset {config.charset}"
    stated: list[str] = []
    named: list[str] = []
    for spec in config.train:
        source = parse_source(spec)
        found = stated_charset(source.location) if source.scheme is None else None
        if found is not None:
            named.append(source.location)
            stated.extend(symbol for symbol in found.symbols if symbol not in stated)
    if config.init_from is not None:
        model = read_model_info(config.init_from).charset
        extra = [symbol for symbol in stated if symbol not in model]
        if not extra:
            return model, "the --init-from model's"
        report(f"charset: the training data holds {len(extra)} symbols the --init-from model lacks "
               f"({''.join(extra[:20])}{'...' if len(extra) > 20 else ''}): added to its alphabet")  # fmt: skip
        return Charset([*model.symbols, *extra]), f"the --init-from model's plus {len(extra)} from the data"
    if stated:
        return Charset(stated), f"as the training data states ({', '.join(named)})"
    return Charset.preset(DEFAULT_CHARSET), "the default (no --charset, and the training data states none)"


def initial_bundle(config: TrainConfig, charset: Charset, report: Reporter) -> ModelBundle:
    """A new model of ``config.arch`` for ``charset``; with ``config.init_from``, every tensor of that model
    file whose shape fits is copied in, and the classifier keeps the rows of the symbols both charsets share."""
    preprocess = PreprocessConfig(height=config.height, channels=config.channels, max_width=config.max_width)
    bundle = new_bundle(config.arch, charset, preprocess, seed=config.seed)
    if config.init_from is None:
        return bundle
    digest = file_sha256(config.init_from)  # before loading: the record names the file as it was read
    source = load_bundle(config.init_from)
    if source.config.arch != config.arch or source.preprocess.height != config.height:
        raise ConfigError(
            f"--init-from {config.init_from}: it is a {source.config.arch} model at height "
            f"{source.preprocess.height}; pass --arch {source.config.arch} --height {source.preprocess.height}"
        )
    target_state = bundle.model.state_dict()
    copied = 0
    for name, tensor in source.model.state_dict().items():
        if name in target_state and target_state[name].shape == tensor.shape:
            target_state[name] = tensor
            copied += 1
    # The classifier is rebuilt for a new charset: rows of symbols both charsets share are kept.
    head = "rnn.1.projection"
    if source.charset != charset:
        shared = [(charset.symbols.index(s) + 1, i + 1) for i, s in enumerate(source.charset.symbols) if s in charset]
        for suffix in ("weight", "bias"):
            old, new = source.model.state_dict()[f"{head}.{suffix}"], target_state[f"{head}.{suffix}"].clone()
            new[BLANK] = old[BLANK]
            for new_row, old_row in shared:
                new[new_row] = old[old_row]
            target_state[f"{head}.{suffix}"] = new
        report(f"init-from: charset changed; classifier rebuilt keeping {len(shared)} shared symbols")
    bundle.model.load_state_dict(target_state)
    bundle.provenance["init_from"] = str(config.init_from)
    # The path may name another file by the time anyone reads this; the digest names this one.
    bundle.provenance["init_from_sha256"] = digest
    kept = (
        f"; the classifier rebuilt, keeping the rows of {len(shared)} shared symbols"
        if source.charset != charset
        else ""
    )
    bundle.provenance["initialisation"] = f"{copied} of {len(target_state)} tensors copied from init_from{kept}"
    report(f"init-from: {copied} tensors copied from {config.init_from}")
    return bundle
