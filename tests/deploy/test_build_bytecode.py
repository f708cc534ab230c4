"""The Lambda zip's bytecode (deploy/build.py): only Lambda's own .pyc files, each beside its
module, may ship; the compile names /var/task as the source and is the same bytes from any
folder (the zip stays reproducible); LAMBDA_PYTHON must be a python3.12."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest

from deploy import build
from deploy.build import BuildError, compile_bytecode, forbidden_files, lambda_python

TAG = "cpython-312"


def package(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("def f():\n    raise ValueError('x')\n")
    return root


def test_only_the_tags_bytecode_of_a_module_beside_it_may_ship(tmp_path):
    tree = package(tmp_path)
    cache = tree / "pkg" / "__pycache__"
    cache.mkdir()
    for name in (f"mod.{TAG}.pyc", f"gone.{TAG}.pyc", "mod.cpython-311.pyc"):
        (cache / name).write_bytes(b"")
    (tree / "pkg" / "stray.pyc").write_bytes(b"")

    assert forbidden_files(tree, TAG) == [
        f"pkg/__pycache__/gone.{TAG}.pyc",
        "pkg/__pycache__/mod.cpython-311.pyc",
        "pkg/stray.pyc",
    ]
    assert f"pkg/__pycache__/mod.{TAG}.pyc" in forbidden_files(tree)


def bytecode_digests(tree: Path) -> dict[str, str]:
    return {
        path.relative_to(tree).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(tree.rglob("*.pyc"))
    }


def test_the_bytecode_is_the_same_from_any_folder_and_names_var_task(tmp_path):
    one = package(tmp_path / "one")
    two = tmp_path / "elsewhere" / "two"
    shutil.copytree(one, two)

    compile_bytecode(one, sys.executable)
    compile_bytecode(two, sys.executable)

    assert bytecode_digests(one) == bytecode_digests(two) != {}
    compiled = next((one / "pkg" / "__pycache__").glob("mod.*.pyc")).read_bytes()
    assert b"/var/task/pkg/mod.py" in compiled and str(tmp_path).encode() not in compiled


def test_a_module_that_does_not_compile_fails_the_build(tmp_path):
    tree = package(tmp_path)
    (tree / "pkg" / "broken.py").write_text("def (:\n")

    with pytest.raises(BuildError, match="compiling"):
        compile_bytecode(tree, sys.executable)


def test_lambda_python_must_be_lambdas_version(monkeypatch):
    monkeypatch.setattr(build, "BUILD_PYTHON", "0.0")
    monkeypatch.setenv("LAMBDA_PYTHON", sys.executable)

    with pytest.raises(BuildError, match="LAMBDA_PYTHON"):
        lambda_python()
    monkeypatch.setattr(build, "LAMBDA", build.Runtime(build.python_version(sys.executable), ()))
    assert lambda_python() == sys.executable
