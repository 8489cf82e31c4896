"""The rendered health check of child Applications, run as Argo CD v3.4.4 runs it (util/lua/lua.go): Lua 5.1
(gopher-lua implements 5.1; here PUC Lua 5.1 through lupa) with only the package, base, table and safe os
libraries, on Application objects shaped as the pinned controller writes them (fact table: argo-cd v3.4.4
``application_status``). Sync waves of the app-of-apps wait on the status it returns; people read the message."""

from __future__ import annotations

from typing import Any

import lupa.lua51 as lua51
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.render.stacks.argocd import APPLICATION_HEALTH_LUA

from .conftest import default_tree, objects
from .upstream.rendered import release

KEY = "resource.customizations.health.argoproj.io_Application"
ARGOCD = release("argo-cd")
CODES = sorted(ARGOCD.names("health_codes"))
ERRORS = sorted(ARGOCD.names("condition_errors"))
WARNINGS = sorted(ARGOCD.names("condition_warnings"))
PHASES = sorted(ARGOCD.names("operation_phases"))


def run_health(script: str, obj: dict[str, Any]) -> dict[str, Any]:
    """What Argo CD's ExecuteHealthLua returns: the script's table as a HealthStatus, a status outside the
    valid codes turned into Unknown."""
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    # Argo CD opens package, base, table and a safe os; string, math, io, debug are absent, and without the
    # string library strings have no methods ("x"):sub(1) fails as it does in the controller.
    assert set(ARGOCD.names("lua_libs")) == {"package", "base", "table", "os"}
    lua.execute(
        'debug.setmetatable("", nil)\n'
        "string = nil; math = nil; io = nil; debug = nil; python = nil; coroutine = nil\n"
        "os = {time = os.time, date = os.date}"
    )
    lua.globals().obj = lua.table_from(obj, recursive=True)
    returned = lua.execute(script)
    assert lua51.lua_type(returned) == "table", "the script must return a table"
    out = dict(returned.items())
    assert set(out) <= {"status", "message"}, out
    assert all(isinstance(v, str) for v in out.values()), out
    if out.get("status") not in CODES:
        return {"status": "Unknown", "message": "Lua returned an invalid health status"}
    return out


def app(status: dict[str, Any] | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "vllm"}}
    if status is not None:
        obj["status"] = status
    return obj


def test_the_rendered_tree_carries_this_script() -> None:
    cm = objects(default_tree("dev"))["apps/application-argo-cd.yaml"]["spec"]["source"]["helm"]["valuesObject"]
    assert cm["configs"]["cm"][KEY] == APPLICATION_HEALTH_LUA


def test_an_unhealthy_child_names_its_unhealthy_resource_and_errors_without_the_unset_message() -> None:
    """Argo CD 3.x never sets status.health.message: the message comes from what it does set."""
    status = {
        "health": {"status": "Degraded", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        "sync": {"status": "Synced"},
        "conditions": [
            {"type": "SyncError", "message": "one or more objects failed to apply"},
            {"type": "OrphanedResourceWarning", "message": "1 orphaned resource"},
        ],
        "operationState": {"phase": "Failed", "message": "one or more synchronization tasks completed unsuccessfully"},
        "resources": [
            {"kind": "Service", "namespace": "llmops", "name": "vllm", "health": {"status": "Healthy"}},
            {"kind": "ConfigMap", "namespace": "llmops", "name": "vllm-config"},
            {
                "kind": "Deployment",
                "namespace": "llmops",
                "name": "vllm",
                "health": {"status": "Degraded", "message": 'Deployment "vllm" exceeded its progress deadline'},
            },
        ],
    }
    out = run_health(APPLICATION_HEALTH_LUA, app(status))
    assert out["status"] == "Degraded"
    msg = out["message"]
    assert 'Deployment llmops/vllm Degraded: Deployment "vllm" exceeded its progress deadline' in msg
    assert "SyncError: one or more objects failed to apply" in msg
    assert "sync Failed: one or more synchronization tasks completed unsuccessfully" in msg
    assert "Service" not in msg and "ConfigMap" not in msg and "orphaned" not in msg


def test_a_new_child_without_status_is_progressing() -> None:
    assert run_health(APPLICATION_HEALTH_LUA, app(None)) == {"status": "Progressing", "message": ""}
    assert run_health(APPLICATION_HEALTH_LUA, app({"sync": {"status": "OutOfSync"}}))["status"] == "Progressing"


resource = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["Deployment", "StatefulSet", "Service", "Rollout"]),
        "name": st.text("abcdefgh-", min_size=1, max_size=8),
    },
    optional={
        "namespace": st.sampled_from(["llmops", "monitoring", ""]),
        "health": st.fixed_dictionaries({"status": st.sampled_from(CODES)}, optional={"message": st.text(max_size=20)}),
    },
)
status_strategy = st.fixed_dictionaries(
    {},
    optional={
        "health": st.fixed_dictionaries({}, optional={"status": st.sampled_from(CODES)}),
        "conditions": st.lists(
            st.fixed_dictionaries({"type": st.sampled_from(ERRORS + WARNINGS), "message": st.text(max_size=20)}),
            max_size=4,
        ),
        "operationState": st.fixed_dictionaries(
            {"phase": st.sampled_from(PHASES)}, optional={"message": st.text(max_size=20)}
        ),
        "resources": st.lists(resource, max_size=8),
    },
)


@settings(max_examples=150, deadline=None)
@given(status=status_strategy)
def test_any_status_the_controller_writes_gives_its_health_and_the_errors(status: dict[str, Any]) -> None:
    out = run_health(APPLICATION_HEALTH_LUA, app(status))
    # the status is the child's own health, so sync waves wait exactly until Argo CD calls it Healthy
    assert out["status"] == status.get("health", {}).get("status", "Progressing")
    msg = out["message"]
    for c in status.get("conditions", []):
        if c["type"] in ERRORS and c["message"]:
            assert f"{c['type']}: {c['message']}" in msg
    op = status.get("operationState", {})
    if op.get("phase") in ("Failed", "Error") and op.get("message"):
        assert f"sync {op['phase']}: {op['message']}" in msg
    sick = [r for r in status.get("resources", []) if r.get("health", {}).get("status", "Healthy") != "Healthy"]
    if out["status"] != "Healthy" and sick:
        first = sick[0]
        assert f"{first['kind']} " in msg and first["name"] in msg
        if len(sick) > 3:
            assert f"and {len(sick) - 3} more" in msg
    if out["status"] == "Healthy":  # a healthy child lists no resources
        for r in status.get("resources", []):
            assert f"{r['kind']} {r.get('namespace') or ''}" not in msg.replace("/", " ")


@pytest.mark.parametrize(
    "script",
    [
        'return {status = string.format("%s", "Healthy")}',
        'return {status = ("Healthy"):sub(1)}',
        "return {status = tostring(math.floor(1))}",
    ],
)
def test_the_sandbox_refuses_what_argo_cds_refuses(script: str) -> None:
    """No string or math library in Argo CD's Lua: a script using them errors in the controller."""
    with pytest.raises(lua51.LuaError):
        run_health(script, app(None))


def test_the_old_script_read_a_field_argo_cd_3_never_sets() -> None:
    """The upstream docs' script: health.message only, an empty health object counted as an invalid status."""
    old = (
        'hs = {}\nhs.status = "Progressing"\nhs.message = ""\n'
        "if obj.status ~= nil and obj.status.health ~= nil then\n  hs.status = obj.status.health.status\n"
        "  if obj.status.health.message ~= nil then\n    hs.message = obj.status.health.message\n  end\nend\n"
        "return hs\n"
    )
    assert run_health(old, app({"health": {}})) == {
        "status": "Unknown",
        "message": "Lua returned an invalid health status",
    }
    degraded = app({"health": {"status": "Degraded"}, "conditions": [{"type": "SyncError", "message": "x"}]})
    assert run_health(old, degraded)["message"] == ""
    assert run_health(APPLICATION_HEALTH_LUA, degraded)["message"] == "SyncError: x"
    assert run_health(APPLICATION_HEALTH_LUA, app({"health": {}}))["status"] == "Progressing"
