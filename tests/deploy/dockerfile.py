"""The Dockerfile read as instructions, and its stages replayed on this machine (no container
engine runs here): the build stage's COPY and RUN lines make the image's Python environment in a
folder standing for the image's root, and the final stage's environment, user, working folder
and CMD start fnproxy as the image would.

Paths under the folders the image owns (/opt, /src, /app, /data) are mapped into that folder;
the rest (/usr/local/bin of the base image, sh) are this machine's own.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
IMAGE_FOLDERS = ("opt", "src", "app", "data")
GRPC_PORT = "50051"
"""The gRPC port the image exposes, the one docs/deploy.md and compose.yaml set GRPC_PORT to."""
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str

    def exec_form(self) -> list[str]:
        """The JSON array of CMD, HEALTHCHECK ... CMD or VOLUME."""
        text = self.argument
        if self.keyword == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[-1]
        value = json.loads(text)
        assert isinstance(value, list), f"{self.keyword} is not in exec form: {self.argument}"
        return value


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.image}"
        return found[-1]

    def environment(self) -> dict[str, str]:
        """The stage's ENV values, in order, `$NAME` expanded as Docker does (from the values
        set before each instruction; PATH from the base image, here this machine's)."""
        env = {"PATH": os.environ.get("PATH", "")}
        for instruction in self.all("ENV"):
            env |= env_values(instruction.argument, env)
        return env


def logical_lines(text: str) -> list[str]:
    """Instructions one per line: comments and blank lines dropped, continuations joined."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1].strip() + " "
            continue
        lines.append(current + stripped)
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return lines


def parse(text: str) -> list[Stage]:
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, argument = line.partition(" ")
        keyword, argument = keyword.upper(), argument.strip()
        if keyword == "FROM":
            image, _, name = argument.partition(" AS ")
            stages.append(Stage(image.strip(), name.strip() or None))
        else:
            assert stages, f"{keyword} before any FROM"
            stages[-1].instructions.append(Instruction(keyword, argument))
    return stages


def dockerfile() -> list[Stage]:
    return parse(DOCKERFILE.read_text(encoding="utf-8"))


def env_values(argument: str, before: dict[str, str]) -> dict[str, str]:
    """`ENV A=1 B=$A` -> {A: 1, B: <A's value before this instruction>}."""
    values = {}
    for word in shlex.split(argument):
        name, sep, value = word.partition("=")
        assert sep, f"ENV {word}: only the NAME=VALUE form is read"
        values[name] = VARIABLE.sub(lambda m: before.get(m.group(1) or m.group(2), ""), value)
    return values


class ImageRoot:
    """A folder standing for the image's file system."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, image_path: str) -> Path:
        return self.folder / image_path.lstrip("/")

    def map(self, value: str) -> str:
        """An environment value with the image's own paths (also in a PATH-style list) mapped."""
        parts = value.split(":")
        return ":".join(
            str(self.path(part))
            if part.startswith("/") and part.strip("/").split("/")[0] in IMAGE_FOLDERS
            else part
            for part in parts
        )

    def environment(self, stage: Stage) -> dict[str, str]:
        return {name: self.map(value) for name, value in stage.environment().items()}


def copy_into(root: ImageRoot, workdir: Path, argument: str) -> None:
    """COPY SRC... DEST from the repository (the build context), as .dockerignore lets it:
    without bytecode."""
    *sources, destination = shlex.split(argument)
    target = root.path(destination) if destination.startswith("/") else workdir / destination
    for source in sources:
        origin = REPO / source
        into = target / origin.name if destination.endswith("/") else target
        into.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(
                origin,
                into,
                ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"),
                dirs_exist_ok=True,
            )
        else:
            shutil.copy2(origin, into)


def build(stage: Stage, root: ImageRoot, log: Path) -> None:
    """The build stage's instructions, in order: its RUN lines under `sh -c` with the stage's
    environment, `python3` being the interpreter of these tests (the image's Python version)."""
    env = root.environment(stage)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    workdir = root.folder
    with log.open("w") as output:
        for instruction in stage.instructions:
            if instruction.keyword == "WORKDIR":
                workdir = root.path(instruction.argument)
                workdir.mkdir(parents=True, exist_ok=True)
            elif instruction.keyword == "COPY":
                copy_into(root, workdir, instruction.argument)
            elif instruction.keyword == "RUN":
                subprocess.run(
                    ["sh", "-c", instruction.argument],
                    cwd=workdir,
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    check=True,
                )
            else:
                assert instruction.keyword == "ENV", f"cannot replay {instruction.keyword}"


@dataclass(frozen=True)
class Runtime:
    """What the final stage gives its CMD: environment and working folder. It runs as this
    machine's user, not the image's USER: the venv's interpreter here is this machine's, which
    another user may not reach (a pyenv under /root)."""

    env: dict[str, str]
    workdir: Path


def prepare(stage: Stage, root: ImageRoot) -> Runtime:
    """The final stage's files (its COPY from the context; COPY --from=build is already in
    place) and its volume folders, mode 0700 as the Dockerfile makes /data."""
    workdir = root.folder
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = root.path(instruction.argument)
        elif instruction.keyword == "COPY" and not instruction.argument.startswith("--from="):
            copy_into(root, workdir, instruction.argument)
    for volume in stage.last("VOLUME").exec_form():
        root.path(volume).mkdir(mode=0o700, parents=True, exist_ok=True)
    return Runtime(root.environment(stage) | {"HOME": "/nonexistent"}, workdir)
