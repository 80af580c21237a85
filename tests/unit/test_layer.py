"""The wab layer ships the versions the tests run with, compiled, so Lambda never compiles it on a cold start."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "wab"


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def test_every_layer_pin_is_the_version_the_tests_run_with():
    layer, tested = pins(LAYER / "requirements.txt"), pins(ROOT / "requirements-dev.txt")

    assert {"boto3", "botocore", "aws-lambda-powertools", "pydantic", "requests"} <= set(layer)
    assert {name: version for name, version in layer.items() if tested.get(name) != version} == {}


def test_the_template_builds_the_layer_with_its_makefile():
    template = (ROOT / "template.yaml").read_text()
    layer = template[template.index("  WabLayer:") : template.index("  HttpApi:")]

    assert "BuildMethod: makefile" in layer and "ContentUri: layers/wab/" in layer
    assert "build-WabLayer:" in (LAYER / "Makefile").read_text()


def test_the_built_wab_package_runs_from_its_bytecode_without_compiling(tmp_path):
    """The recipe's compile step (its pip step needs the network; `sam build` runs it): once compiled, the package
    imports from the bytecode as it is, even with every source file broken, so nothing is compiled at import."""
    package = tmp_path / "python" / "wab"
    shutil.copytree(LAYER / "wab", package)
    compile_step = next(
        line.strip()
        for line in (LAYER / "Makefile").read_text().splitlines()
        if "compileall" in line and not line.strip().startswith("#")
    )
    subprocess.run(
        compile_step.replace("$(PYTHON)", sys.executable).replace("$(ARTIFACTS_DIR)", str(tmp_path)),
        shell=True,
        check=True,
    )
    for source in package.rglob("*.py"):
        pyc = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
        assert pyc.read_bytes()[4:8] == b"\x01\x00\x00\x00", source  # flags: hash-based, not checked
        source.write_text("this is not Python\n")

    probe = "import wab.callbacks, wab.sender; print(wab.sender.Sender.__name__)"
    answer = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "python"), "PATH": "/usr/bin:/bin"},
    )
    assert (answer.returncode, answer.stdout.strip()) == (0, "Sender"), answer.stderr
