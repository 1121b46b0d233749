#!/usr/bin/python3
"""Writes flakelab's man page and bash completion from the built binary's own --help.

    flakelab_docs.py FLAKELAB_BIN --man OUT.1 --completion OUT.bash

Both are generated at build time (cmake/install.cmake) so they cannot drift from the CLI:
every verb, option and description comes from CLI11's help of `flakelab` and of each
`flakelab VERB`; scenario names for completion come from `flakelab scenarios`.
Exits 1 naming the command if the binary's help cannot be read or parsed.
"""
import argparse
import re
import subprocess
import sys

# An option or positional line of CLI11's help: "  -n,--trials INT:INT   trials per cell".
OPTION_LINE = re.compile(r"^  (\S+)(?: (\S+(?: \.\.\.)?))?\s{2,}(\S.*)$")
# A continuation line of the previous entry's description (aligned at the help column).
CONTINUATION = re.compile(r"^\s{10,}(\S.*)$")


def run_help(binary, *args):
    command = [binary, *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except OSError as e:
        sys.exit(f"flakelab_docs: cannot run {' '.join(command)}: {e.strerror}")
    if done.returncode != 0:
        sys.exit(f"flakelab_docs: `{' '.join(command)}` exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def parse_help(text):
    """{'description', 'sections': {name: [(names, type, help)]}} of one CLI11 help text."""
    lines = text.splitlines()
    description = lines[0].strip() if lines else ""
    sections = {}
    current = None
    for line in lines[1:]:
        if line.endswith(":") and not line.startswith(" "):
            current = sections.setdefault(line[:-1], [])
            continue
        if current is None or not line.strip():
            continue
        match = OPTION_LINE.match(line)
        if match and not line.startswith("   "):
            names, kind, help_text = match.groups()
            if kind and kind.startswith("-"):
                # "  --flag   --other ..." cannot happen; a "type" starting with '-' is part of help.
                help_text = f"{kind} {help_text}"
                kind = None
            current.append([names, kind or "", help_text])
            continue
        more = CONTINUATION.match(line)
        if more and current:
            current[-1][2] = (current[-1][2] + " " + more.group(1)).strip()
        elif line.startswith("  ") and not line.startswith("   "):
            # An entry whose name is so long its description starts on the next line.
            current.append([line.strip().split(" ")[0], " ".join(line.strip().split(" ")[1:]), ""])
    return {"description": description, "sections": sections}


def roff(text):
    """Escapes text for a roff line."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def man_page(version, top, verbs):
    out = [
        f'.TH FLAKELAB 1 "" "flakelab {version}" "User Commands"',
        ".SH NAME",
        "flakelab \\- " + roff(top["description"].split(": ", 1)[-1]),
        ".SH SYNOPSIS",
        ".B flakelab",
        "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fICOMMAND OPTIONS\\fR]",
        ".SH DESCRIPTION",
        roff(top["description"]) + ".",
        "Trials run in their own pid and network namespaces and need root (CAP_SYS_ADMIN, CAP_SYS_PTRACE).",
        "Every trial is recorded in a SQLite database (default \\fIflakelab.db\\fR) for",
        "\\fBreport\\fR, \\fBcompare\\fR, \\fBgate\\fR and \\fBmerge\\fR, and for the Python package",
        "(\\fBimport flakelab\\fR).",
        ".SH OPTIONS",
    ]
    for names, kind, help_text in top["sections"].get("Options", []):
        out += [".TP", f"\\fB{roff(names)}\\fR {roff(kind)}".rstrip(), roff(help_text)]
    out.append(".SH COMMANDS")
    for name, verb in verbs.items():
        out += [".SS " + roff(name), roff(verb["description"])]
        for section in ("Positionals", "Options"):
            for names, kind, help_text in verb["sections"].get(section, []):
                if names in ("-h,--help",):
                    continue
                out += [".TP", f"\\fB{roff(names)}\\fR {roff(kind)}".rstrip(), roff(help_text)]
    out += [
        ".SH EXIT STATUS",
        ".TP", "0", "success: every trial passed, or failed only where failures were expected",
        ".TP", "1", "some trial did not behave as expected (or the gate failed)",
        ".TP", "2", "bad command line: unknown scenario, parameter or CPU, bad syntax",
        ".TP", "3", "the harness itself failed: database, fork, namespaces, hwloc",
        ".TP", "128+N", "interrupted by signal N (SIGINT, SIGTERM); the recorded trials are kept",
        ".SH FILES",
        ".TP", "\\fIflakelab.db\\fR", "the default results database (SQLite, WAL)",
        ".SH SEE ALSO",
        "\\fBcriu\\fR(8), \\fBpython3\\fR(1): \\fBhelp(flakelab)\\fR documents the Python package.",
    ]
    return "\n".join(out) + "\n"


def option_words(verb):
    words = []
    for names, _, _ in verb["sections"].get("Options", []):
        words += [n for n in names.split(",") if n.startswith("-")]
    return words


def completion(top, verbs, scenario_names):
    """A bash completion function: verbs, each verb's options, files for path options,
    the choices CLI11 lists ({a,b}) or the help names (a | b), scenario names for run/rerun."""
    lines = [
        "# bash completion for flakelab (generated from `flakelab --help` at build time)",
        "_flakelab() {",
        '  local cur prev verb i',
        '  cur="${COMP_WORDS[COMP_CWORD]}"',
        '  prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '  verb=""',
        '  for ((i = 1; i < COMP_CWORD; i++)); do',
        '    case "${COMP_WORDS[i]}" in -*) ;; *) verb="${COMP_WORDS[i]}"; break ;; esac',
        "  done",
        '  case "$prev" in',
        "    --db|--campaign|-o|--output|--baseline|--artifacts-dir|--topology|-D|--dir|--images|--engine-cli)",
        '      COMPREPLY=($(compgen -f -- "$cur")); return ;;',
        "    --format)",
        '      COMPREPLY=($(compgen -W "text json junit html markdown" -- "$cur")); return ;;',
        "    --placement)",
        '      COMPREPLY=($(compgen -W "same-pu smt-siblings same-core same-l3 cross-l3 cross-numa unpinned random all" -- "$cur")); return ;;',
        "    --expect)",
        '      COMPREPLY=($(compgen -W "pass flaky" -- "$cur")); return ;;',
        "    --keep-artifacts)",
        '      COMPREPLY=($(compgen -W "failed always never" -- "$cur")); return ;;',
        "    --log-level)",
        '      COMPREPLY=($(compgen -W "trace debug info warn error off" -- "$cur")); return ;;',
        "  esac",
        '  case "$verb" in',
        f'    "") COMPREPLY=($(compgen -W "{" ".join(verbs)} {" ".join(option_words(top))}" -- "$cur")) ;;',
    ]
    for name, verb in verbs.items():
        words = " ".join(option_words(verb))
        if name in ("run", "rerun"):
            lines.append(f'    {name}) if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "{words}" -- "$cur")); '
                         f'else COMPREPLY=($(compgen -W "{" ".join(scenario_names)}" -- "$cur")); fi ;;')
        else:
            lines.append(f'    {name}) COMPREPLY=($(compgen -W "{words}" -- "$cur")) ;;')
    lines += ["  esac", "}", "complete -o default -F _flakelab flakelab", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--version", required=True)
    parser.add_argument("--man", required=True)
    parser.add_argument("--completion", required=True)
    args = parser.parse_args()

    top = parse_help(run_help(args.binary, "--help"))
    verb_lines = top["sections"].get("Subcommands", [])
    if not verb_lines or not top["sections"].get("Options"):
        sys.exit(f"flakelab_docs: `{args.binary} --help` lists no subcommands or options; has its format changed?")
    verbs = {}
    for names, _, _ in verb_lines:
        verbs[names] = parse_help(run_help(args.binary, names, "--help"))
        if not verbs[names]["sections"].get("Options"):
            sys.exit(f"flakelab_docs: `{args.binary} {names} --help` lists no options")
    scenario_names = [line for line in run_help(args.binary, "scenarios").splitlines()
                      if line and not line.startswith(" ")]
    if not scenario_names:
        sys.exit(f"flakelab_docs: `{args.binary} scenarios` lists no scenario")
    with open(args.man, "w") as f:
        f.write(man_page(args.version, top, verbs))
    with open(args.completion, "w") as f:
        f.write(completion(top, verbs, scenario_names))


if __name__ == "__main__":
    main()
