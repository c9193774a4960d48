#!/usr/bin/env python3
"""Domino's own Python client against domino-sim: the simulator must answer what it sends.

The simulator is the ground every test of dmm stands on, and it was written from our reading of
the API. python-domino (`dominodatalab`, Domino's official client) is an independent witness of
how a real server answers: this script drives its calls for `/version`, Apps and Jobs, with both
kinds of credential, and the raw calls of the earlier maintenance tool for the rest (projects,
all Apps, model versions, workspaces, Scheduled Jobs), against a `domino-sim` it starts on
127.0.0.1. Any error, any answer of another shape, or any violation the simulator records fails
the run.

Usage: conformance.py PATH/TO/domino-sim
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import requests
from domino import Domino

KEY = "conformance-key"
TOKEN = "conformance-token"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHURN = "5f0000000000000000000001"
RUNNING_JOB = "d10000000000000000000001"
QUEUED_JOB = "d10000000000000000000002"
ENDED_JOB = "d10000000000000000000003"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def fields(obj, types, where):
    """`obj` is a dict whose `name` is of `types[name]` for every name (a nested dict checks a
    nested object)."""
    check(isinstance(obj, dict), f"{where}: not an object: {obj!r}")
    for name, kind in types.items():
        check(name in obj, f"{where}: no `{name}` in {sorted(obj)}")
        if isinstance(kind, dict):
            fields(obj[name], kind, f"{where}.{name}")
        else:
            check(isinstance(obj[name], kind), f"{where}.{name}: {obj[name]!r} is not {kind}")


def scenario():
    """The fixtures' small deployment, with Jobs in project churn: one running, one waiting in
    the queue, one ended."""
    with open(os.path.join(ROOT, "sim/fixtures/scenarios/small.json")) as f:
        doc = json.load(f)
    doc["projects"][0]["jobs"] = [
        {"id": RUNNING_JOB, "title": "train", "command": "python train.py", "state": "running"},
        {"id": QUEUED_JOB, "title": "report", "command": "python report.py", "state": "queued"},
        {"id": ENDED_JOB, "title": "backfill", "command": "python backfill.py", "state": "succeeded"},
    ]
    return doc


def start_sim(binary, scenario_path):
    sim = subprocess.Popen(
        [
            binary,
            "--listen", "127.0.0.1:0",
            "--scenario", scenario_path,
            "--transition-ms", "150",
            "--transition-jitter-ms", "0",
        ],
        env={**os.environ, "DOMINO_SIM_API_KEY": KEY, "DOMINO_SIM_BEARER_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        text=True,
    )
    line = sim.stdout.readline().strip()
    check(line.startswith("listening on http://127.0.0.1:"), f"domino-sim said: {line!r}")
    return sim, line.split(" ", 2)[2]


def until(what, probe, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def python_domino_apps(d):
    project_id = d.project_id
    check(project_id == CHURN, f"findProjectByOwnerAndName gave {project_id}")
    app_id = d.app_id
    apps = d.request_manager.get(d._routes.app_list(project_id)).json()
    check(len(apps) > 0 and all(a["projectId"] == project_id for a in apps),
          f"modelProducts?projectId={project_id} lists another project's App: {apps}")
    check(app_id == apps[0]["id"], f"app_id {app_id} is not the project's first App")
    app = d.request_manager.get(d._routes.app_get(app_id)).json()
    fields(app, {"id": str, "name": str, "status": str, "hardwareTierId": str,
                 "projectId": str, "publisher": {"userName": str}}, "app")
    check(d.app_get_status(app_id) == "Running", "the churn dashboard is not Running")
    # Unpublish: the status, then a stop (POST without a body) of a running App.
    d.app_unpublish(app_id=app_id)
    until("the App stops", lambda: d.app_get_status(app_id) == "Stopped")
    # Publish on the tier it ran on, with the project's local volumes (as a restore does).
    volumes = d.request_manager.get(f"{d._routes.host}/v4/datamount/projects/{project_id}").json()
    local = [v["id"] for v in volumes if any(p["isLocal"] for p in v["dataPlanes"])]
    d.app_publish(unpublish_running_apps=False, hardware_tier_id=app["hardwareTierId"],
                  external_volume_mount_ids=local, app_id=app_id)
    until("the App runs again", lambda: d.app_get_status(app_id) == "Running")


JOB = {"id": str, "number": int, "projectId": str, "title": str, "jobRunCommand": str,
       "statuses": {"isCompleted": bool, "executionStatus": str},
       "startedBy": {"id": str, "username": str}, "stageTime": {"submissionTime": int}}


def python_domino_jobs(d):
    project_id = d.project_id
    # Its defaults: status=all, order_by=number, sort_by=desc, show_archived=false.
    page = d.jobs_list(project_id)
    fields(page, {"jobs": list, "totalCount": int}, "job page")
    for job in page["jobs"]:
        fields(job, JOB, "job")
    numbers = [j["number"] for j in page["jobs"]]
    check(numbers == sorted(numbers, reverse=True) and len(numbers) == 3, f"all, newest first: {numbers}")
    ascending = d.jobs_list(project_id, sort_by="asc", page_size=2, page_no=1)
    check([j["number"] for j in ascending["jobs"]] == sorted(numbers)[:2], f"ascending: {ascending}")
    completed = d.jobs_list(project_id, status="completed")
    check([j["id"] for j in completed["jobs"]] == [ENDED_JOB], f"completed: {completed}")
    # Read, stop with results committed, restart with the original commit.
    fields(d.job_status(RUNNING_JOB), JOB, "job read")
    d.job_stop(RUNNING_JOB, commit_results=True)
    until("the Job stops",
          lambda: d.job_status(RUNNING_JOB)["statuses"]["executionStatus"] == "Stopped")
    check(d.job_status(RUNNING_JOB)["statuses"]["isCompleted"] is True, "a Stopped Job is completed")
    new = d.job_restart(RUNNING_JOB, should_use_original_input_commit=True).json()
    fields(new, JOB, "restarted job")
    check(new["id"] != RUNNING_JOB and new["jobRunCommand"] == "python train.py", f"restart: {new}")
    # The queued Job: stopped before it ran.
    d.job_stop(QUEUED_JOB)
    until("the queued Job stops",
          lambda: d.job_status(QUEUED_JOB)["statuses"]["isCompleted"])


def refused(url, headers):
    answer = requests.get(f"{url}/v4/projects", headers=headers, timeout=10)
    check(answer.status_code == 401, f"{headers} answered {answer.status_code}, not 401")


def earlier_tool(url):
    """The earlier maintenance tool's raw calls, with its header."""
    session = requests.Session()
    session.headers.update({"Content-Type": "application/json", "X-Domino-Api-Key": KEY})

    def get(path):
        answer = session.get(url + path, timeout=10)
        check(answer.status_code == 200, f"GET {path}: {answer.status_code} {answer.text[:200]}")
        return answer.json()

    projects = get("/v4/projects")
    for p in projects:
        fields(p, {"id": str, "name": str, "ownerUsername": str}, "project")
    apps = get("/v4/modelProducts")
    check({a["projectId"] for a in apps} == {p["id"] for p in projects}, "Apps of every project")
    for a in apps:
        fields(a, {"id": str, "name": str, "status": str, "projectId": str,
                   "publisher": {"userName": str}}, "app")
        check("hardwareTierId" in a, f"app {a['id']} has no hardwareTierId")
    for p in projects:
        for model in get(f"/v4/modelManager/getModels?projectId={p['id']}"):
            fields(model, {"id": str, "name": str}, "model")
            check("activeModelVersionId" in model, f"model {model['id']}: no activeModelVersionId")
            versions = get(f"/models/{model['id']}/versions/json?pageNumber=1&pageSize=10")["results"]
            check(versions, f"model {model['id']} has no version")
            for v in versions:
                fields(v, {"id": str, "deploymentStatus": {"name": str, "isPending": bool},
                           "creator": {"name": str}}, "version")
                check("number" in v, "a version has no number")
                one = get(f"/models/{model['id']}/versions/{v['id']}/json")["result"]
                fields(one, {"deploymentStatus": {"name": str, "isPending": bool}}, "version read")
            check(get(f"/models/{model['id']}/versions/json?pageNumber=2&pageSize=10")["results"] == [],
                  "a page past the last is empty")
        for job in get(f"/v4/projects/{p['id']}/scheduledjobs"):
            fields(job, {"id": str, "projectId": str, "title": str, "scheduledByUserName": str,
                         "isPaused": bool}, "scheduled job")
            path = f"/v4/projects/{p['id']}/scheduledjobs/{job['id']}"
            whole = get(path)
            # Pause and resume as the earlier tool does: the whole object back, isPaused changed.
            for paused in (not whole["isPaused"], whole["isPaused"]):
                answer = session.put(url + path, json={**whole, "isPaused": paused}, timeout=10)
                check(answer.status_code == 200, f"PUT {path}: {answer.status_code} {answer.text[:200]}")
                check(get(path)["isPaused"] is paused, f"PUT {path} did not take")
    page = get("/v4/workspace/adminDashboardRowData?limit=50&offset=0")
    fields(page, {"tableRows": list, "totalEntries": int}, "workspace page")
    by_name = {(p["ownerUsername"], p["name"]): p["id"] for p in projects}
    for row in page["tableRows"]:
        fields(row, {"workspaceId": str, "name": str, "projectName": str, "projectOwnerName": str,
                     "ownerUsername": str, "workspaceState": str}, "workspace row")
        project_id = by_name[(row["projectOwnerName"], row["projectName"])]
        one = get(f"/v4/workspace/project/{project_id}/workspace/{row['workspaceId']}")
        check("mostRecentSession" in one, f"workspace {row['workspaceId']}: no mostRecentSession")
        if one["mostRecentSession"] is not None:
            fields(one["mostRecentSession"], {"sessionStatusInfo": {"isCompleted": bool, "isRunning": bool}},
                   "workspace session")
    check(page["totalEntries"] == len(page["tableRows"]), "every workspace in one page")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    started = time.monotonic()
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(scenario(), f)
        f.flush()
        sim, url = start_sim(sys.argv[1], f.name)
    try:
        # The API key header: the constructor reads /version and checks it.
        by_key = Domino("alice/churn", api_key=KEY, host=url)
        check(by_key.deployment_version()["version"] == "5.11.1", "version")
        python_domino_apps(by_key)
        python_domino_jobs(by_key)
        # A service-account token as a bearer, and a bad one of each kind.
        by_token = Domino("carol/fraud", auth_token=TOKEN, host=url)
        check(by_token.project_id == "5f0000000000000000000002", "the token resolves fraud")
        check(by_token.app_get_status(by_token.app_id) is not None, "the token reads an App")
        fields(by_token.jobs_list(by_token.project_id), {"jobs": list, "totalCount": int}, "job page")
        refused(url, {"X-Domino-Api-Key": "not-the-key"})
        refused(url, {"Authorization": "Bearer not-the-token"})
        earlier_tool(url)
        violations = requests.get(f"{url}/__sim/violations", timeout=10).json()
        check(violations == [], f"the simulator recorded violations: {violations}")
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    print(f"conformance: python-domino and the earlier tool's calls answered as expected "
          f"({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
