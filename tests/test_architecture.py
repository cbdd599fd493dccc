"""The package boundaries and layers of docs/architecture.md, checked on the source with `ast`.

Nothing of the project is imported: every .py file of the packages is parsed, every import in it
(`import x`, `from x import y`, relative imports, imports inside functions or under
TYPE_CHECKING, `importlib.import_module("x")` with a literal name) is resolved to an absolute
module name, and the rules below are checked. A failure names the file, the line, the statement
and the rule it breaks.

To place a new module of music_vae or video_vae, add it to LAYERS below (and to the table in
docs/architecture.md).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# The rules, as data (docs/architecture.md, "Packages" and "Layers inside a model package")
# ---------------------------------------------------------------------------------------------

# The project's importable packages (folders at the repository root).
PACKAGES = ("modelkit", "music_vae", "video_vae", "score_av", "installations")

# Package boundaries: what each package must never import.
FORBIDDEN = {
    "music_vae": {"video_vae": "the two model packages never import each other",
                  "score_av": "a model package never imports the pipeline",
                  "installations": "a model package never imports the installations"},
    "video_vae": {"music_vae": "the two model packages never import each other",
                  "score_av": "a model package never imports the pipeline",
                  "installations": "a model package never imports the installations"},
    "score_av": {"installations": "the pipeline never imports the installations built on it"},
    "modelkit": {name: "the floor package imports nothing of the project"
                 for name in ("music_vae", "video_vae", "score_av", "installations", "bench", "tests")},
    "installations": {},
}

# The command line. It is the top of the project, not part of the library: nothing in the library
# imports it. `score_av/__main__.py` (`python -m score_av`) is the command line's entry point.
CLI_MODULE = "score_av.cli"
CLI_FILES = ("score_av/cli/", "score_av/__main__.py")
# The command line may import installations (so that `score-av live` and `score-av batch` can be
# subcommands); the rest of score_av may not.
CLI_MAY_IMPORT_INSTALLATIONS = True

# Layers inside each model package. STACK is lowest first: a module may import modules of its own
# layer and of the layers before it, never one after it. BESIDE (data, measuring, training) sits
# above the model: it may import the whole stack and its own members, and nothing in the stack
# may import it. Every module (the first name under the package: `corpus` for
# music_vae/corpus/dataset.py) must be placed in exactly one layer.
BESIDE = "beside"
TOP = "trained model"  # the API a person uses (MusicVAE, VideoVAE): it may use everything below it, fine-tuning included


@dataclass(frozen=True)
class Layers:
    stack: tuple[tuple[str, tuple[str, ...]], ...]  # (layer, its modules), lowest first
    beside: tuple[str, ...]                          # corpus, metrics, training and their parts
    top: tuple[str, ...] = ("trained_model",)        # above everything else of the package

    def layer_of(self, module: str) -> str | None:
        for layer, members in self.stack:
            if module in members:
                return layer
        return BESIDE if module in self.beside else TOP if module in self.top else None

    def rank(self, layer: str) -> int:
        return [name for name, _ in self.stack].index(layer)

    def order(self) -> str:
        return " < ".join(name for name, _ in self.stack)


LAYERS = {
    "music_vae": Layers(
        stack=(("errors", ("errors",)),
               ("representation", ("representation", "midi_io")),
               ("configs", ("configs",)),
               ("model", ("model",)),
               ("checkpoint/prior", ("checkpoint", "prior", "data_prior"))),
        beside=("corpus", "metrics", "musicality", "attributes", "train", "flatness", "musae", "variants", "styles",
                "harmony"),
        top=("trained_model", "inpaint", "melody_file", "bass"),  # inpaint: a network over the trained model, its training and
        # evaluation; melody_file: a person's melody file in and out, inpainted by it
        # bass: the conditional bass VAE (after BassNet) over melody and chords, its chorale data, training, evaluation
    ),
    "video_vae": Layers(
        stack=(("errors", ("errors",)),
               ("representation", ("preprocess",)),
               ("configs", ("configs",)),
               ("model", ("model",)),
               ("checkpoint", ("checkpoint",))),
        beside=("scenes", "metrics", "train"),
    ),
}
PACKAGE_INIT = "__init__"  # the package's own __init__.py: may import its modules; none of them imports it

# ---------------------------------------------------------------------------------------------
# The scanner
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    path: str     # file, relative to the repository root
    line: int
    module: str   # the importing module, dotted
    target: str   # the imported module, dotted and absolute
    text: str     # the statement as written

    def where(self) -> str:
        return f"{self.path}:{self.line}: `{self.text}`"


def module_name(path: str) -> str:
    parts = path[:-len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _statement(source: str, node: ast.AST) -> str:
    text = ast.get_source_segment(source, node) or type(node).__name__
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= 100 else text[:97] + "..."


def _is_import_module_call(node: ast.Call) -> bool:
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    return name in ("import_module", "__import__")


def scan(path: str, source: str, known: frozenset[str] = frozenset()) -> list[Import]:
    """Every import in `source` (the file at `path`, relative to the root), resolved to absolute
    module names. `known` holds the project's module names, so that `from . import render` reads
    as the module score_av.cli.render rather than a name in score_av.cli."""
    tree = ast.parse(source, filename=path)
    module = module_name(path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found: list[Import] = []

    def add(node: ast.AST, target: str) -> None:
        found.append(Import(path, node.lineno, module, target, _statement(source, node)))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                up = node.level - 1
                base_parts = parts[:len(parts) - up] if up <= len(parts) else []
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = []
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                target = candidate if alias.name != "*" and candidate in known else base
                if target not in targets:
                    targets.append(target)
            for target in targets:
                add(node, target)
        elif isinstance(node, ast.Call) and _is_import_module_call(node):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str) \
                    and not node.args[0].value.startswith("."):
                add(node, node.args[0].value)
    return found


def top(name: str) -> str:
    return name.split(".", 1)[0]


def is_cli_file(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in CLI_FILES)


# ---------------------------------------------------------------------------------------------
# The rules, as functions of (path, source) pairs, so the self-check can feed them made-up files
# ---------------------------------------------------------------------------------------------


def known_modules(files: dict[str, str]) -> frozenset[str]:
    return frozenset(module_name(p) for p in files)


def all_imports(files: dict[str, str]) -> list[Import]:
    known = known_modules(files)
    out = []
    for path, source in sorted(files.items()):
        out += scan(path, source, known)
    return out


def boundary_violations(files: dict[str, str], importers: set[str], imported: set[str] | None = None) -> list[str]:
    """Imports from a package in `importers` of a package FORBIDDEN to it (only those in `imported`, when given)."""
    problems = []
    for imp in all_imports(files):
        src, dst = top(imp.module), top(imp.target)
        if src not in importers or dst == src:
            continue
        if imported is not None and dst not in imported:
            continue
        rule = FORBIDDEN.get(src, {}).get(dst)
        if rule is None:
            continue
        if src == "score_av" and dst == "installations" and CLI_MAY_IMPORT_INSTALLATIONS and is_cli_file(imp.path):
            continue
        problems.append(f"{imp.where()}: {src} imports {imp.target} ({rule})")
    return problems


def cli_violations(files: dict[str, str]) -> list[str]:
    problems = []
    for imp in all_imports(files):
        if is_cli_file(imp.path) or imp.path.startswith(("tests/", "bench/")):
            continue
        if imp.target == CLI_MODULE or imp.target.startswith(CLI_MODULE + "."):
            problems.append(f"{imp.where()}: the library imports the command line {imp.target} "
                            f"(the library never imports {CLI_MODULE}; the command line calls the library)")
    return problems


def _place(package: str, dotted: str) -> str:
    rest = dotted.split(".")[1:]
    return rest[0] if rest else PACKAGE_INIT


def unplaced_modules(files: dict[str, str], package: str) -> list[str]:
    layers = LAYERS[package]
    problems = []
    for path in sorted(files):
        if top(module_name(path)) != package:
            continue
        name = _place(package, module_name(path))
        if name != PACKAGE_INIT and layers.layer_of(name) is None:
            problems.append(f"{path}: module {name!r} of {package} has no layer: place it in LAYERS in "
                            f"tests/test_architecture.py (stack: {layers.order()}; or beside: corpus, metrics, "
                            f"training) and in docs/architecture.md")
    return problems


def layer_violations(files: dict[str, str], package: str) -> list[str]:
    layers = LAYERS[package]
    problems = []
    for imp in all_imports(files):
        if top(imp.module) != package or top(imp.target) != package:
            continue
        src_name, dst_name = _place(package, imp.module), _place(package, imp.target)
        if src_name == dst_name or src_name == PACKAGE_INIT:
            continue
        if dst_name == PACKAGE_INIT:
            problems.append(f"{imp.where()}: {src_name} imports the package {package} itself "
                            f"(import the module that holds the name; {package}/__init__.py is above every layer)")
            continue
        src, dst = layers.layer_of(src_name), layers.layer_of(dst_name)
        if src is None or dst is None:
            unknown = src_name if src is None else dst_name
            problems.append(f"{imp.where()}: module {unknown!r} has no layer (see test_every_model_module_has_a_layer)")
            continue
        if src in (BESIDE, TOP):
            continue  # corpus, metrics and training may use the whole stack and each other; the trained model, all
        if dst == TOP:
            problems.append(f"{imp.where()}: {src_name} (layer {src}) imports {dst_name}, the trained model "
                            f"at the top of the package; nothing below it imports it")
        elif dst == BESIDE:
            problems.append(f"{imp.where()}: {src_name} (layer {src}) imports {dst_name}, which sits beside "
                            f"the stack ({', '.join(layers.beside)}); nothing in the stack "
                            f"({layers.order()}) imports what is beside it")
        elif layers.rank(dst) > layers.rank(src):
            problems.append(f"{imp.where()}: {src_name} (layer {src}) imports {dst_name} (layer {dst}), a higher "
                            f"layer; the order is {layers.order()}")
    return problems


# ---------------------------------------------------------------------------------------------
# The project's files
# ---------------------------------------------------------------------------------------------


def project_files() -> dict[str, str]:
    """Every .py file of the packages, relative path -> source."""
    files = {}
    for package in PACKAGES:
        folder = ROOT / package
        if not folder.is_dir():
            continue
        for file in sorted(folder.rglob("*.py")):
            if "__pycache__" in file.parts:
                continue
            files[file.relative_to(ROOT).as_posix()] = file.read_text(encoding="utf-8")
    return files


def _fail(problems: list[str], rule: str) -> None:
    if problems:
        pytest.fail(f"{rule}: {len(problems)} problem(s)\n" + "\n".join(problems), pytrace=False)


# ---------------------------------------------------------------------------------------------
# The tests: one per rule
# ---------------------------------------------------------------------------------------------


def test_model_packages_do_not_import_each_other():
    _fail(boundary_violations(project_files(), {"music_vae", "video_vae"}, {"music_vae", "video_vae"}),
          "music_vae and video_vae never import each other")


def test_model_packages_do_not_import_the_pipeline_or_installations():
    _fail(boundary_violations(project_files(), {"music_vae", "video_vae"}, {"score_av", "installations"}),
          "music_vae and video_vae never import score_av or installations")


def test_score_av_does_not_import_installations():
    _fail(boundary_violations(project_files(), {"score_av"}), "score_av never imports installations")


def test_modelkit_imports_nothing_of_the_project():
    _fail(boundary_violations(project_files(), {"modelkit"}), "modelkit imports nothing of the project")


def test_library_does_not_import_the_command_line():
    _fail(cli_violations(project_files()), f"the library never imports {CLI_MODULE}")


def test_every_model_module_has_a_layer():
    files = project_files()
    _fail(unplaced_modules(files, "music_vae") + unplaced_modules(files, "video_vae"),
          "every module of music_vae and video_vae is placed in a layer")


def test_music_vae_layers():
    _fail(layer_violations(project_files(), "music_vae"),
          f"inside music_vae a lower layer never imports a higher one ({LAYERS['music_vae'].order()}; "
          f"corpus, metrics and training beside, above the model)")


def test_video_vae_layers():
    _fail(layer_violations(project_files(), "video_vae"),
          f"inside video_vae a lower layer never imports a higher one ({LAYERS['video_vae'].order()}; "
          f"scenes, metrics and training beside, above the model)")


# ---------------------------------------------------------------------------------------------
# The scanner itself: it must see violations, so that the tests above cannot pass vacuously
# ---------------------------------------------------------------------------------------------

_SYNTHETIC = {
    "music_vae/__init__.py": "",
    "music_vae/representation.py": "import numpy as np\n",
    "music_vae/configs.py": "from .representation import VOCAB_SIZE\nfrom .corpus.sources import DEFAULT_TRAINING_DATA\n",
    "music_vae/model.py": "from .configs import ModelConfig\n\ndef f():\n    import video_vae.model\n",
    "music_vae/trained_model.py": "from . import musae\nfrom .checkpoint import load_model\n",
    "music_vae/checkpoint.py": "from modelkit.checkpoint import CheckpointFormat\nfrom .model import BarVAE\n",
    "music_vae/musae.py": "from .model import BarVAE\n",
    "music_vae/prior.py": "from .musae import Critic\nfrom .trained_model import MusicVAE\n",
    "music_vae/corpus/__init__.py": "from .sources import COLLECTIONS\n",
    "music_vae/corpus/sources.py": "from ..errors import MusicInputError\n",
    "music_vae/errors.py": "from modelkit.errors import UserError\n",
    "music_vae/mystery.py": "from .model import BarVAE\n",
    "score_av/__init__.py": "",
    "score_av/mapping.py": "import numpy as np\nfrom music_vae.representation import STEPS_PER_BAR\n",
    "score_av/player/__init__.py": "",
    "score_av/player/live.py": "if True:\n    from ..cli import main\nfrom installations import gallery\n",
    "score_av/cli/__init__.py": "from . import render\nimport installations\n",
    "score_av/cli/render.py": "from ..mapping import Mapping\n",
    "score_av/__main__.py": "from score_av.cli import main\n",
    "modelkit/__init__.py": "",
    "modelkit/cards.py": "import json\nfrom .atomic import write\nfrom score_av import synth\n",
    "modelkit/atomic.py": "import os\n",
    "installations/__init__.py": "",
    "installations/gallery.py": "from score_av.cli.common import summary\n",
    "video_vae/__init__.py": "",
    "video_vae/trained_model.py": "import importlib\nm = importlib.import_module('music_vae.model')\n",
}


def test_scanner_sees_violations():
    files = _SYNTHETIC
    imports = {(i.path, i.target) for i in all_imports(files)}
    # relative imports resolve against the file's package; `from . import x` names the module x
    assert ("music_vae/configs.py", "music_vae.corpus.sources") in imports
    assert ("music_vae/trained_model.py", "music_vae.musae") in imports
    assert ("music_vae/corpus/sources.py", "music_vae.errors") in imports
    assert ("score_av/player/live.py", "score_av.cli") in imports
    assert ("score_av/cli/__init__.py", "score_av.cli.render") in imports

    crossing = boundary_violations(files, {"music_vae"}, {"video_vae"})
    assert len(crossing) == 1 and crossing[0].startswith("music_vae/model.py:4:")  # an import inside a function
    assert any("video_vae/trained_model.py:2:" in p
               for p in boundary_violations(files, {"video_vae"}, {"music_vae"}))   # import_module("...")
    score = boundary_violations(files, {"score_av"})
    assert [p.split(":")[0] for p in score] == ["score_av/player/live.py"]  # the CLI may import installations
    floor = boundary_violations(files, {"modelkit"})
    assert len(floor) == 1 and floor[0].startswith("modelkit/cards.py:3:")

    cli = cli_violations(files)
    assert sorted(p.split("`")[0] for p in cli) == ["installations/gallery.py:1: ", "score_av/player/live.py:2: "]

    layers = layer_violations(files, "music_vae")
    assert any(p.startswith("music_vae/configs.py:2:") and "corpus" in p for p in layers)
    assert any(p.startswith("music_vae/prior.py:1:") and "musae" in p for p in layers)
    assert any(p.startswith("music_vae/prior.py:2:") and "trained model" in p for p in layers)
    assert not any(p.startswith(("music_vae/checkpoint.py", "music_vae/musae.py", "music_vae/corpus/",
                                 "music_vae/trained_model.py"))
                   for p in layers)
    assert [p.split(":")[0] for p in unplaced_modules(files, "music_vae")] == ["music_vae/mystery.py"]

    clean = {"music_vae/model.py": "from .configs import ModelConfig\nfrom .representation import STEPS_PER_BAR\n",
             "music_vae/configs.py": "from .representation import VOCAB_SIZE\n",
             "music_vae/representation.py": "import numpy as np\n"}
    assert layer_violations(clean, "music_vae") == [] and boundary_violations(clean, set(PACKAGES)) == []


def test_scanner_reads_the_project():
    """The real tree is scanned: the packages are there and their imports are seen."""
    files = project_files()
    assert {"music_vae/model.py", "video_vae/model.py", "score_av/timeline.py"} <= set(files)
    targets = {(i.path, i.target) for i in all_imports(files)}
    assert ("score_av/timeline.py", "music_vae.midi_io") in targets
    assert ("music_vae/model.py", "music_vae.configs") in targets
