"""The docs stay true: README.md, docs/, CHANGELOG.md and CONTRIBUTING.md against the code
and the committed benchmark results. Fast (no TensorFlow is imported, nothing runs).

- Commands. Every `rocket ...` command line in README.md, CONTRIBUTING.md and docs/*.md
  (not CHANGELOG.md, whose commands are history) parses with the CLI's own argparse
  parser (`pipeline.cli._build_parser`; no command's handler runs). A command line is a
  line of a fenced code block that starts with `rocket ` or `.venv/bin/rocket ` (a
  trailing backslash continues it, and so does an indented line starting with `[`; `#`
  starts a comment), or an inline code span that starts so. Options must be written out
  in full (argparse's abbreviations are turned off here, so a misspelt `--train-step`
  fails too). Words in capitals are placeholders (FILE, DIR, N, gs://YOUR_BUCKET/...):
  after an option whose type is a number, a placeholder is replaced by a number the type
  accepts. Required options and positional arguments may be left out, because a fragment
  such as `rocket compile --tune` in a sentence names an option rather than giving a full
  command. A usage synopsis, a line with `[` or `]`, `a|b` alternatives or an elision
  (`...`, `…`), is checked by name instead of parsed: its command exists, each `--option`
  in it belongs to that command, and each `a|b` after an option with choices lists valid
  choices only.
- Reference pages. docs/cli.md names every command and every option the parser has, and
  docs/configuration.md every EasyRec field pipeline/easyrec_proto.py accepts.
- Links. Every relative link and image in README.md, docs/, CHANGELOG.md and
  CONTRIBUTING.md resolves to an existing file or folder, and an `#anchor` into a Markdown
  file matches one of its headings (GitHub's heading ids).
- Results. The README's headline results table is generated from the committed benchmark
  JSON files it cites (`results_table` below): the test regenerates it and compares. After
  a new benchmark run, update the JSON under tests/benchmarks/results/ and rewrite the
  table with `.venv/bin/python tests/test_docs.py --write-results` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shlex
import sys
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # run as a script: the project's imports, Keras 2 as in conftest
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

README = REPO / "README.md"
DOCS = REPO / "docs"
RESULTS = REPO / "tests" / "benchmarks" / "results"
COMMAND_DOCS = [README, REPO / "CONTRIBUTING.md", *sorted(DOCS.glob("*.md"))]
LINKED_DOCS = [
    README,
    REPO / "CHANGELOG.md",
    REPO / "CONTRIBUTING.md",
    *sorted(DOCS.rglob("*.md")),
]

# ---------------------------------------------------------------------------------------
# Markdown reading


FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
PROMPT = re.compile(r"^(?:\$\s+)?(?:\.venv/bin/)?rocket\s")
BACKSLASH = "\\"


def prose_and_code(text: str) -> tuple[list[str], list[str]]:
    """The lines outside fenced code blocks, and the lines inside them."""
    prose, code, fenced = [], [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            code.append("")  # a block ends what a command line continued
            continue
        (code if fenced else prose).append(line)
    return prose, code


def command_lines(path: Path) -> list[str]:
    """The `rocket ...` command lines of one Markdown file (see the module docstring)."""
    prose, code = prose_and_code(path.read_text(encoding="utf-8"))
    found: list[str] = []
    state = None  # None: not in a command; "open": after a backslash; "synopsis": may go on
    for line in code:
        text = _strip_comment(line).strip()
        indented_option = line[:1].isspace() and text.startswith("[")
        if text and (state == "open" or (state == "synopsis" and indented_option)):
            found[-1] = f"{found[-1]} {text.removesuffix(BACKSLASH).rstrip()}"
        elif PROMPT.match(text):
            found.append(text.removesuffix(BACKSLASH).rstrip())
        else:
            state = None
            continue
        state = "open" if text.endswith(BACKSLASH) else "synopsis"
    for paragraph in paragraphs(prose):
        for _, span in CODE_SPAN.findall(paragraph):
            if PROMPT.match(span.strip()):
                found.append(span.strip())
    return found


def paragraphs(prose: list[str]) -> list[str]:
    """Prose as paragraphs on one line each: a code span or a link may wrap."""
    return [" ".join(p.split("\n")) for p in re.split(r"\n\s*\n", "\n".join(prose))]


def _strip_comment(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line)


# ---------------------------------------------------------------------------------------
# Commands against the CLI's parser


def strict_parser() -> argparse.ArgumentParser:
    """The CLI's own parser, with abbreviations off and required arguments optional."""
    from pipeline import cli

    parser = cli._build_parser()
    for subparser in subcommands(parser).values():
        subparser.allow_abbrev = False
        for action in subparser._actions:
            if action.option_strings:
                action.required = False
            elif action.nargs is None:  # a positional argument
                action.nargs = "?"
    parser.allow_abbrev = False
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")
NUMBERS = ("1", "0.5")


def is_synopsis(command: str) -> bool:
    return any(mark in command for mark in ("[", "]", "...", "…")) or bool(
        re.search(r"\S\|\S|\s\|\s", command)
    )


def check_command(parser: argparse.ArgumentParser, command: str) -> str | None:
    """None when the command line is valid for the parser, else what is wrong."""
    words = command.split() if is_synopsis(command) else shlex.split(command)
    words = words[2:] if words[0] == "$" else words[1:]  # `$`, `rocket`, `.venv/bin/rocket`
    commands = subcommands(parser)
    if words in (["--help"], ["-h"]):
        return None
    if not words or words[0] not in commands:
        return f"no such command: {words[:1]}"
    sub = commands[words[0]]
    if is_synopsis(command):
        return _check_synopsis(sub, words[1:])
    args = _fill_placeholders(sub, words[1:])
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args([words[0], *args])
    except SystemExit as exit_:
        if exit_.code in (0, None):  # --help
            return None
        return stderr.getvalue().strip().splitlines()[-1]
    return None


def _check_synopsis(sub: argparse.ArgumentParser, words: list[str]) -> str | None:
    options = sub._option_string_actions
    previous = None
    for word in words:
        word = word.strip("[]")
        if word.startswith("--") and len(word) > 2:
            name = word.split("=", 1)[0]
            if name not in options:
                return f"unrecognized option {name}"
            previous = options[name]
            continue
        if previous is not None and previous.choices and "|" in word:
            wrong = [w for w in word.split("|") if w not in previous.choices]
            if wrong:
                return f"{previous.option_strings[0]}: invalid choices {wrong}"
        previous = None
    return None


def _fill_placeholders(sub: argparse.ArgumentParser, words: list[str]) -> list[str]:
    options = sub._option_string_actions
    filled, previous = [], None
    for word in words:
        if word in options:
            previous = options[word]
            filled.append(word)
            continue
        if previous is not None and PLACEHOLDER.match(word) and previous.type is not None:
            word = next((n for n in NUMBERS if _accepts(previous.type, n)), word)
        filled.append(word)
        previous = None
    return filled


def _accepts(type_, text: str) -> bool:
    try:
        type_(text)
    except (ValueError, TypeError, argparse.ArgumentTypeError):
        return False
    return True


def all_commands() -> list[tuple[str, str]]:
    return [
        (path.relative_to(REPO).as_posix(), c) for path in COMMAND_DOCS for c in command_lines(path)
    ]


def test_every_rocket_command_in_the_docs_parses():
    parser = strict_parser()
    commands = all_commands()
    assert len(commands) > 30, "the command extraction found almost nothing"
    wrong = [
        f"{where}: {command}\n    -> {error}"
        for where, command in commands
        if (error := check_command(parser, command))
    ]
    assert not wrong, "commands the CLI would refuse:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    ("command", "valid"),
    [
        ("rocket run --data pipeline/data/taobao_sample", True),
        ("rocket run --rows N --train-steps 60 --tune", True),
        ("rocket compile --tune", True),
        ("rocket run --min-acu 0.6", False),  # misspelt
        ("rocket run --train-step 60", False),  # an abbreviation argparse would allow
        ("rocket run --rows 0", False),  # below the option's minimum
        ("rocket lanch", False),
        ("$ rocket run --no-cache", True),
        ("rocket run [--data PATH] [--runner beam|local]", True),
        ("rocket run [--data PATH] [--runner beam|locale]", False),
        ("rocket bench [--quick] [--only quality|sizes]", False),
        ("rocket submit pipeline.json --vertex ...same options... [--servce-account SA]", False),
    ],
)
def test_the_command_check_itself(command, valid):
    assert (check_command(strict_parser(), command) is None) == valid


def test_cli_reference_names_every_command_and_option():
    from pipeline import cli

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = []
    for name, sub in subcommands(cli._build_parser()).items():
        if f"rocket {name}" not in text:
            missing.append(f"rocket {name}")
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text):
                        missing.append(f"rocket {name} {option}")
    assert not missing, "docs/cli.md does not name: " + ", ".join(missing)


def test_configuration_page_names_every_easyrec_field():
    from pipeline import easyrec_proto

    prose, code = prose_and_code((DOCS / "configuration.md").read_text(encoding="utf-8"))
    spans = [span for p in paragraphs(prose) for _, span in CODE_SPAN.findall(p)]
    quoted = " ".join(code + spans)
    missing = [
        f"{message}.{field}"
        for message, fields in easyrec_proto._MESSAGES.items()
        for field, _, _ in fields
        if not re.search(rf"(?<!\w){field}(?!\w)", quoted)
    ]
    assert not missing, "docs/configuration.md does not name: " + ", ".join(missing)


# ---------------------------------------------------------------------------------------
# Links and images

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HTML_LINK = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", re.IGNORECASE)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


def link_targets(path: Path) -> list[str]:
    prose, _ = prose_and_code(path.read_text(encoding="utf-8"))
    targets = []
    for paragraph in paragraphs(prose):
        paragraph = CODE_SPAN.sub("", paragraph)
        targets += LINK.findall(paragraph) + HTML_LINK.findall(paragraph)
    for line in prose:
        if reference := REFERENCE.match(line):
            targets.append(reference.group(1))
    return targets


def heading_ids(path: Path) -> set[str]:
    """GitHub's ids of a Markdown file's headings: lower case, punctuation dropped,
    spaces to hyphens, -1, -2, ... for repeats."""
    prose, _ = prose_and_code(path.read_text(encoding="utf-8"))
    ids, seen = set(), {}
    for line in prose:
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1))
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        ids.add(slug if count == 0 else f"{slug}-{count}")
    return ids


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in link_targets(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in heading_ids(resolved):
            broken.append(f"{target} (no such heading in {resolved.name})")
    return broken


@pytest.mark.parametrize("path", LINKED_DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_and_images_resolve(path):
    assert path.exists(), path
    assert not broken_links(path), f"{path.name}: broken links: {broken_links(path)}"


def test_the_link_check_itself(tmp_path):
    (tmp_path / "there.md").write_text("# A heading: with `code`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [ok](there.md#a-heading-with-code) ![img](there.md) [web](https://x.y)\n"
        "[gone](missing.md) [bad anchor](there.md#nope) `[in code](nowhere.md)`\n"
        "```\n[in a block](nowhere.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.md (no such file)",
        "there.md#nope (no such heading in there.md)",
    ]


# ---------------------------------------------------------------------------------------
# The README's headline results table, generated from the committed benchmark JSON

BEGIN = (
    "<!-- results table: generated from the JSON files it cites by "
    "`.venv/bin/python tests/test_docs.py --write-results`; do not edit by hand -->"
)
END = "<!-- end of results table -->"


def _load(relative: str) -> dict:
    return json.loads((RESULTS / relative).read_text(encoding="utf-8"))


def _pm(stats: dict) -> str:
    return f"{stats['mean']:.4f} ± {stats['std']:.4f}"


def _target(targets: list[dict], starts: str) -> dict:
    (target,) = [t for t in targets if t["target"].startswith(starts)]
    return target


def _outcome(target: dict) -> str:
    return {True: "met", False: "missed", None: "n/a"}[target["met"]]


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def _verdict(target: dict) -> str:
    threshold = target["target"].rsplit(" ", 2)[-2:]  # e.g. ['>', '0.0012']
    return f"target {' '.join(threshold)}: {_outcome(target)}"


# The quality rows: tests/benchmarks/results/quality_defaults/<name>/, in this order.
DEFAULTS_DATA_SETS = (
    ("generated_10k_cv", "10,000 generated rows, 5-fold cross-validation by row"),
    ("generated_50k", "50,000 generated rows (the default run's data)"),
    ("generated_300k", "300,000 generated rows"),
    ("deep_200k", "200,000 rows of bench.deep_data (small id spaces, deep crosses)"),
    ("deep_20k", "20,000 rows of bench.deep_data"),
    ("taobao_sample_cv", "the 10,000 real Taobao rows, 5-fold cross-validation by row"),
)


def results_table() -> str:
    """The README's headline results, every number read from a committed benchmark JSON."""
    runs: list[tuple[str, dict]] = []

    def run(relative: str, block: dict) -> str:
        key = (relative, block["measured"]["date"], block["measured"]["command"])
        keys = [(r, b["measured"]["date"], b["measured"]["command"]) for r, b in runs]
        if key not in keys:
            runs.append((relative, block))
            keys.append(key)
        return f"[{keys.index(key) + 1}]"

    rows = []
    # The product's defaults on each bench data set (rocket bench --only quality-at-size).
    for name, label in DEFAULTS_DATA_SETS:
        relative = f"quality_defaults/{name}/benchmark.json"
        part = _load(relative)["quality_at_size"]
        variants = part["variants"]
        # What the light SavedModel serves (the light net blended with the linear
        # baseline, since 2026-12-07); a data set not re-measured since, the light net.
        served = "rocket_served" in variants
        rocket, linear = variants["rocket_served" if served else "rocket"], variants["linear"]
        who = "served light model" if served else "light net alone (before the blend)"
        prefix = "served light" if served else "rocket light"
        target = _target(part["targets"], f"{prefix} AUC − linear AUC")
        gauc = _target(part["targets"], f"{prefix} GAUC − linear GAUC")
        lift = rocket["auc"]["mean"] - linear["auc"]["mean"]
        rows.append(
            f"| Quality: eval AUC (GAUC), {label}, {len(part['seeds'])} seeds, {who} | "
            f"{_pm(rocket['auc'])} ({rocket['gauc']['mean']:.4f}) | {_pm(linear['auc'])} "
            f"({linear['gauc']['mean']:.4f}) | {lift:+.4f} ({_verdict(target)}; GAUC "
            f"{_signed(gauc['value'])}: {_outcome(gauc)}) | {run(relative, part)} |"
        )
    # Where distillation pays: the paper's CTR setting (only the embeddings shared).
    relative = "quality_defaults/deep_200k_shared_embeddings/benchmark.json"
    part = _load(relative)["quality_at_size"]
    variants, gap = part["variants"], part["gap_closed"]["auc"]
    target = _target(part["targets"], "gap_closed (")
    beyond = _target(part["targets"], "gap_closed beyond its per-seed spread")
    rows.append(
        f"| Distillation: light [32] on shared embeddings, `deep_data` 200,000 rows, "
        f"{len(part['seeds'])} seeds: rocket light vs light alone (booster alone "
        f"{variants['booster_alone']['auc']['mean']:.4f}) | {_pm(variants['rocket']['auc'])} | "
        f"{_pm(variants['light_alone']['auc'])} | gap_closed {gap['value']:.3f} "
        f"(> its per-seed spread {beyond['target'].rsplit(' ', 1)[-1]}: {_outcome(beyond)}; "
        f"the paper's >= {target['target'].rsplit(' ', 1)[-1]}: {_outcome(target)}) | "
        f"{run(relative, part)} |"
    )
    # The newer of the full run's serving part and a `--only serving` run of its own.
    full_file = "full/benchmark.json"
    serving_file = "serving/benchmark.json"
    candidates = [(full_file, _load(full_file)["serving"])]
    if (RESULTS / serving_file).exists():
        candidates.append((serving_file, _load(serving_file)["serving"]))
    serving_source, serving = max(candidates, key=lambda c: c[1]["measured"]["date"])
    largest = str(serving["largest_batch"])
    from pipeline.bench.settings import EASYREC_PARSE_FLOOR_MS_B512

    # What the Trainer pushes (the light net blended with the linear baseline), against
    # EasyRec's light net in units of the parse floor timed beside each (the machine's
    # speed moves between runs; EasyRec's 13.3 ms is a constant: bench.serving).
    batch = serving["batches"][largest]
    target = _target(serving["targets"], "served_speedup_over_easyrec_in_parse_floors")
    rows.append(
        f"| Serving: served light model (light net + linear baseline), batch {largest}, median "
        f"latency in parse floors (`tf.io.parse_example` alone, timed beside it) | "
        f"{serving['served_over_parse_floor_b' + largest]:.2f} "
        f"({batch['served']['median_ms']:.3f} ms; the light net alone "
        f"{serving['light_over_parse_floor_b' + largest]:.2f}) | EasyRec's light net "
        f"{serving['easyrec_light_parse_floors_b' + largest]:.2f} "
        f"({serving['easyrec_light_ms_b' + largest]} ms where the floor took "
        f"{EASYREC_PARSE_FLOOR_MS_B512} ms) | "
        f"{serving['served_speedup_over_easyrec_in_parse_floors_b' + largest]:.2f}× faster "
        f"({_verdict(target)}) | {run(serving_source, serving)} |"
    )
    # The default run's time, side by side with the commit issue #26 measured (0b4be93).
    size_file = "size_comparison/benchmark.json"
    comparison = _load(size_file)["comparison"]
    old, new, ratio = comparison["old"], comparison["new"], comparison["ratio_new_over_old"]
    rows.append(
        f"| Time: a default `rocket run` (50,000 generated rows), wall, median of "
        f"{comparison['rounds']} interleaved runs each | {new['wall_seconds']:.1f} s | "
        f"{old['ref']} {old['wall_seconds']:.1f} s | new / old {ratio['wall']:.2f} (target ≤ "
        f"0.5: {'met' if ratio['wall'] <= 0.5 else 'missed'}); Transform "
        f"{ratio['Transform']:.2f}, Trainer {ratio['Trainer']:.2f} | {run(size_file, comparison)} |"
    )
    lines = [
        BEGIN,
        "| result | Rocket Launching | baseline (linear or EasyRec) | difference | run |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]
    for number, (relative, block) in enumerate(runs, start=1):
        measured = block["measured"]
        date = datetime.fromisoformat(measured["date"]).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(
            f"{number}. {date}; {measured['machine']}; `{measured['command']}`; "
            f"[{relative}](tests/benchmarks/results/{relative})"
        )
    lines.append(END)
    return "\n".join(lines)


def readme_table(text: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    assert start >= 0 and end > start, "README.md has no generated results table"
    return text[start : end + len(END)]


README_MAX_LINES = 200  # CONTRIBUTING.md: the newcomer's page; reference goes to docs/


def test_readme_stays_a_short_newcomers_page():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move reference text to docs/"
    )


def test_readme_results_table_is_the_committed_benchmark_json():
    written = readme_table(README.read_text(encoding="utf-8"))
    assert written == results_table(), (
        "README.md's results table differs from tests/benchmarks/results/*.json: run "
        "`.venv/bin/python tests/test_docs.py --write-results` (see docs/benchmarks.md)"
    )


def write_results() -> None:
    text = README.read_text(encoding="utf-8")
    README.write_text(text.replace(readme_table(text), results_table()), encoding="utf-8")
    print(f"wrote the results table of {README}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-results"]:
        sys.exit("usage: tests/test_docs.py --write-results")
    write_results()
