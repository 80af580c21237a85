"""After a SnapStart restore, what each environment must have of its own is made again."""

import importlib
import random
import sys
import types

import wab.snapstart
from wab import aws


def test_the_restore_hook_reseeds_random_and_forgets_clients_secrets_and_cached_dependencies(monkeypatch) -> None:
    registered = []
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_after_restore = registered.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    snapstart = importlib.reload(wab.snapstart)
    forgotten = []
    snapstart.on_restore(lambda: forgotten.append("dependencies"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws.client("sqs")
    random.seed(7)
    snapshot_state = random.getstate()

    [hook] = registered
    hook()

    assert random.getstate() != snapshot_state
    assert aws.client.cache_info().currsize == 0 and aws.secrets.cache_info().currsize == 0
    assert forgotten == ["dependencies"]


def test_without_the_runtime_library_nothing_is_registered(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # as outside Lambda: the import fails
    importlib.reload(wab.snapstart)  # does not raise
