#!/usr/bin/python3
"""Installs flakelab the ways a user would and checks what lands where.

    install_test.py install BUILD VERSION   cmake --install into a DESTDIR (prefix /usr) and a
                                            temporary prefix: files, man page, completion, and
                                            `import flakelab` from the installed dist-packages
    install_test.py deb BUILD VERSION       cpack -G DEB, then dpkg-deb -c/-f/-x on the .deb

Registered as the ctests install_tree and install_deb (label packaging). Exits 1 with the
first failed check.
"""
import gzip
import os
import pathlib
import subprocess
import sys
import tempfile

PYTHON = "/usr/bin/python3"


def fail(message):
    sys.exit(f"install_test: {message}")


def run(command, env=None, cwd=None, timeout=300):
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, check=False)
    if done.returncode != 0:
        fail(f"`{' '.join(map(str, command))}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def clean_env(**extra):
    """The environment without anything pointing Python at the build tree."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def check_python_package(dist_packages, workdir):
    """Imports the installed package (nothing else on PYTHONPATH) and runs three trials with it."""
    script = (
        "import flakelab, sys\n"
        "print(flakelab.__file__)\n"
        "assert flakelab.scenarios(), 'no scenarios'\n"
        "run = flakelab.run('selftest/coin', trials=3, params={'p': 0}, db='installed.db')\n"
        "trials = flakelab.Results('installed.db').trials(run=run)\n"
        "assert list(trials['outcome']) == ['pass'] * 3, trials\n"
    )
    out = run([PYTHON, "-c", script], env=clean_env(PYTHONPATH=str(dist_packages)), cwd=workdir)
    where = pathlib.Path(out.splitlines()[0]).resolve()
    if dist_packages.resolve() not in where.parents:
        fail(f"import flakelab found {where}, not the installed copy under {dist_packages}")


def check_man_page(path, verbs):
    if not path.is_file():
        fail(f"no man page at {path}")
    text = gzip.decompress(path.read_bytes()).decode()
    if not text.startswith(".TH FLAKELAB 1"):
        fail(f"{path} does not start with .TH FLAKELAB 1")
    for verb in verbs:
        if f".SS {verb}" not in text.replace("\\-", "-"):
            fail(f"{path} has no section for `flakelab {verb}`")
    for option in ("--until-failures", "--expect", "--fresh-namespaces", "--format"):
        if option not in text.replace("\\-", "-"):
            fail(f"{path} does not document {option}")


def complete(completion, *words):
    """What bash completion offers for the last word of `flakelab WORDS...`."""
    quoted = " ".join(f"'{w}'" for w in ("flakelab",) + words)
    script = (f"source '{completion}'; COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; _flakelab; "
              'printf "%s\\n" "${COMPREPLY[@]}"')
    return run(["bash", "-c", script]).split()


def check_completion(path, verbs):
    if not path.is_file():
        fail(f"no bash completion at {path}")
    run(["bash", "-n", str(path)])
    offered = complete(path, "")
    missing = [v for v in verbs if v not in offered]
    if missing:
        fail(f"completion of `flakelab ` misses verbs {missing}: {offered}")
    if complete(path, "run", "--until-f") != ["--until-failures"]:
        fail(f"completion of `flakelab run --until-f`: {complete(path, 'run', '--until-f')}")
    if "scm06" not in complete(path, "run", "scm"):
        fail("completion of `flakelab run scm` does not offer scm06")
    if complete(path, "report", "--format", "ju") != ["junit"]:
        fail("completion of `flakelab report --format ju` does not offer junit")


def verbs_of(binary):
    text = run([str(binary), "--help"])
    section = text.split("Subcommands:", 1)[1]
    return [line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.split()]


def check_tree(root, prefix, python_dir, version, workdir):
    """`root`: DESTDIR (or ""), `prefix`: the install prefix inside it."""
    base = pathlib.Path(str(root) + str(prefix))
    binary = base / "bin" / "flakelab"
    if not os.access(binary, os.X_OK):
        fail(f"no executable {binary}")
    reported = run([str(binary), "--version"]).strip()
    if version not in reported:
        fail(f"{binary} --version says {reported!r}, not {version}")
    verbs = verbs_of(binary)
    if "run" not in verbs or "report" not in verbs:
        fail(f"{binary} --help lists verbs {verbs}")
    check_man_page(base / "share" / "man" / "man1" / "flakelab.1.gz", verbs)
    check_completion(base / "share" / "bash-completion" / "completions" / "flakelab", verbs)
    for doc in ("README.md", "REPORTS.md", "examples/triage.ipynb"):
        if not (base / "share" / "doc" / "flakelab" / doc).is_file():
            fail(f"no {doc} under {base / 'share/doc/flakelab'}")
    package = base / python_dir / "flakelab"
    if not (package / "__init__.py").is_file() or not list(package.glob("_native*.so")):
        fail(f"the Python package is not at {package}: {sorted(p.name for p in package.glob('*'))}")
    check_python_package(base / python_dir, workdir)
    # The CLI reads what the installed module wrote.
    run([str(binary), "report", "--db", str(workdir / "installed.db")])


def python_version():
    return run([PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).strip()


def test_install(build, version):
    with tempfile.TemporaryDirectory(prefix="flakelab-install-") as tmp:
        tmp = pathlib.Path(tmp)
        destdir = tmp / "destdir"
        run(["cmake", "--install", str(build), "--prefix", "/usr"], env=clean_env(DESTDIR=str(destdir)))
        (tmp / "work1").mkdir()
        check_tree(destdir, "/usr", "lib/python3/dist-packages", version, tmp / "work1")
        # Under another prefix: where Debian's python3 looks below /usr/local-like prefixes.
        prefix = tmp / "prefix"
        run(["cmake", "--install", str(build), "--prefix", str(prefix)], env=clean_env())
        (tmp / "work2").mkdir()
        check_tree("", prefix, f"lib/python{python_version()}/dist-packages", version, tmp / "work2")


def test_deb(build, version):
    with tempfile.TemporaryDirectory(prefix="flakelab-deb-") as tmp:
        tmp = pathlib.Path(tmp)
        # gzip instead of xz: the same files, packed in a fraction of the time.
        run(["cpack", "-G", "DEB", "-B", str(tmp), "-D", "CPACK_DEBIAN_COMPRESSION_TYPE=gzip"], cwd=build,
            env=clean_env())
        debs = list(tmp.glob("*.deb"))
        if len(debs) != 1:
            fail(f"cpack made {[d.name for d in debs]} in {tmp}, expected one .deb")
        deb = debs[0]
        listing = run(["dpkg-deb", "-c", str(deb)])
        paths = {line.split()[-1] for line in listing.splitlines() if line.strip()}
        expected = ["./usr/bin/flakelab", "./usr/share/man/man1/flakelab.1.gz",
                    "./usr/share/bash-completion/completions/flakelab",
                    "./usr/lib/python3/dist-packages/flakelab/__init__.py",
                    "./usr/share/doc/flakelab/README.md"]
        missing = [p for p in expected if p not in paths]
        if missing:
            fail(f"{deb.name} lacks {missing}:\n{listing}")
        if not any(p.startswith("./usr/lib/python3/dist-packages/flakelab/_native") for p in paths):
            fail(f"{deb.name} has no compiled module:\n{listing}")
        if any("/tests/" in p or p.endswith(("_tests", "_bench")) for p in paths):
            fail(f"{deb.name} carries test or benchmark files:\n{listing}")
        fields = {f: run(["dpkg-deb", "-f", str(deb), f]).strip() for f in ("Package", "Version", "Depends")}
        if fields["Package"] != "flakelab" or fields["Version"] != version:
            fail(f"{deb.name}: Package {fields['Package']!r} Version {fields['Version']!r}")
        for dependency in ("python3", "libsqlite3"):
            if dependency not in fields["Depends"]:
                fail(f"{deb.name} does not depend on {dependency}: {fields['Depends']}")
        root = tmp / "root"
        run(["dpkg-deb", "-x", str(deb), str(root)])
        (tmp / "work").mkdir()
        check_python_package(root / "usr/lib/python3/dist-packages", tmp / "work")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("install", "deb"):
        sys.exit(__doc__)
    build = pathlib.Path(sys.argv[2]).resolve()
    if not (build / "CMakeCache.txt").is_file():
        fail(f"{build} is not a CMake build directory (no CMakeCache.txt)")
    {"install": test_install, "deb": test_deb}[sys.argv[1]](build, sys.argv[3])
    print(f"install_test {sys.argv[1]}: ok")


if __name__ == "__main__":
    main()
