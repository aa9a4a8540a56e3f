"""docker/Dockerfile.locust and docker/Dockerfile.server, read rather than built.

The real builds happen in ``tests/integration/test_docker_stack.py``, where a
docker daemon can run, from the local base; these checks need no daemon and
hold for the registry images users build: the base image satisfies the project's Python, every
file the build copies exists and is not dropped by .dockerignore, what pip
installs is this project with extras that exist, the images run as a numeric
non-root user, and the entrypoints are ``locust`` and ``locust-ml serve``.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.unit.deploy.deployfiles import DOCKER, ROOT, Dockerfile, dockerignore_excludes

LOCUST = DOCKER / "Dockerfile.locust"
SERVER = DOCKER / "Dockerfile.server"
IGNORE = ROOT / ".dockerignore"

#: Dockerfile -> (extras it installs, entrypoint).
IMAGES = {
    LOCUST: ({"audio", "gpu"}, ["locust"]),
    SERVER: ({"server"}, ["locust-ml", "serve", "--host", "0.0.0.0"]),
}


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pip_commands(image: Dockerfile) -> list[list[str]]:
    """Every ``pip install`` / ``pip wheel`` in a RUN, as argv lists."""
    out = []
    for run in image.all("RUN"):
        for part in re.split(r"&&|;", run):
            words = [w for w in shlex.split(part) if not w.startswith("--mount=")]
            if len(words) >= 2 and words[0] == "pip" and words[1] in ("install", "wheel"):
                out.append(words)
    return out


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_the_base_image_runs_the_projects_python(path: Path, pyproject: dict[str, Any]) -> None:
    image = Dockerfile.parse(path)
    stages = image.stages()
    names = {name for _, name in stages if name}
    for base, _ in stages:
        assert base in names or base.startswith("python:"), base
    final = stages[-1][0]
    m = re.fullmatch(r"python:(\d+)\.(\d+)-slim(?:-\w+)?", final)
    assert m, f"{path.name}: the runtime is a python slim image, got {final}"
    required = re.fullmatch(r">=(\d+)\.(\d+)", pyproject["project"]["requires-python"])
    assert required is not None
    assert (int(m[1]), int(m[2])) >= (int(required[1]), int(required[2]))


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_every_copied_file_is_in_the_build_context(path: Path, pyproject: dict[str, Any]) -> None:
    copied = set()
    for sources, _ in Dockerfile.parse(path).copies():
        for source in sources:
            assert (ROOT / source).exists(), f"{path.name}: COPY {source}: no such file"
            assert not dockerignore_excludes(IGNORE, source), f"{source} is dockerignored"
            copied.add(source)
    # What hatchling needs to build the wheel: metadata, readme, the package.
    needed = {"pyproject.toml", pyproject["project"]["readme"]}
    needed |= set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    assert needed <= copied, needed - copied


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_pip_installs_this_project_with_extras_that_exist(
    path: Path, pyproject: dict[str, Any]
) -> None:
    extras, _ = IMAGES[path]
    commands = pip_commands(Dockerfile.parse(path))
    wheel = [c for c in commands if c[1] == "wheel"]
    install = [c for c in commands if c[1] == "install"]
    assert len(wheel) == 2, commands
    assert len(install) == 2, commands
    deps, app = wheel
    # One stage builds the dependencies' wheels from the metadata with the extras
    # (cached while pyproject.toml stays the same) ...
    (project,) = [w for w in deps[2:] if not w.startswith("-") and w != "/wheels"]
    assert project == f".[{','.join(sorted(extras))}]"
    # ... another the project's own wheel, without them ...
    assert "--no-deps" in app
    assert [w for w in app[2:] if not w.startswith("-") and w != "/app"] == ["."]
    # ... and the runtime installs both from those wheels only: no index at all.
    assert all("--no-index" in i for i in install), install
    assert [w for w in install[0][2:] if not w.startswith("-")] == ["/wheels/*.whl"]
    assert "--no-deps" in install[1]
    assert extras <= set(pyproject["project"]["optional-dependencies"])


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_a_numeric_non_root_user_and_the_entrypoint(path: Path) -> None:
    image = Dockerfile.parse(path)
    user, _, group = image.last("USER").partition(":")
    assert user.isdigit(), "numeric, so runAsNonRoot can check it"
    assert int(user) > 0
    assert group.isdigit()
    assert int(group) > 0
    assert image.exec_form("ENTRYPOINT") == IMAGES[path][1]
    assert any(f"--uid {user}" in run for run in image.all("RUN")), "the user exists"


def test_the_load_generator_image_carries_the_locustfiles_and_a_report_dir() -> None:
    image = Dockerfile.parse(LOCUST)
    workdir = Path(image.last("WORKDIR"))
    assert (workdir / "locustfiles").as_posix() in {
        (workdir / dest).as_posix() for _, dest in image.copies()
    }
    assert any(f"mkdir {workdir / 'reports'}" in run for run in image.all("RUN"))
    assert {"8089", "5557"} <= set(image.last("EXPOSE").split())


def test_dockerignore_keeps_only_what_the_images_need() -> None:
    kept = ["pyproject.toml", "README.md", "locust_ml/__init__.py", "locust_ml/profiles"]
    kept += ["locust_ml/report/templates", "locustfiles/summarizer.py"]
    dropped = [".venv/bin/python", ".git/HEAD", "reports/x/report.json", "tests/conftest.py"]
    dropped += ["locust_ml/__pycache__/cli.cpython-311.pyc", "data", "docker/compose.yaml"]
    for path in kept:
        assert (ROOT / path).exists(), path
        assert not dockerignore_excludes(IGNORE, path), path
    for path in dropped:
        assert dockerignore_excludes(IGNORE, path), path


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        ("*\n", "a/b.txt", True),
        ("*\n!a\n", "a/b.txt", False),
        ("*\n!a\n**/*.pyc\n", "a/c/b.pyc", True),
        ("a/*.txt\n", "a/b.txt", True),
        ("a/*.txt\n", "a/c/b.txt", False),
        ("**/__pycache__\n", "x/__pycache__/y.pyc", True),
        ("/build\n", "build/lib", True),
        ("build\n!build/keep\n", "build/keep/x", False),
    ],
)
def test_the_dockerignore_matcher(tmp_path: Path, patterns: str, path: str, excluded: bool) -> None:
    ignore = tmp_path / ".dockerignore"
    ignore.write_text(patterns)
    assert dockerignore_excludes(ignore, path) is excluded
