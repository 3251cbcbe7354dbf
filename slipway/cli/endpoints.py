"""`slipway endpoints …`: deploy, list, show, metrics, capture, invoke, invoke-async, async-result, update,
rollback, delete."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from slipway.cli.output import Output, OutputOpt, ago, console, emit, err_console, keeps_running, table
from slipway.cli.state import client

if TYPE_CHECKING:
    from slipway.schemas import AsyncInvocationView, CaptureRecords, EndpointMetrics, EndpointView

app = typer.Typer(help="Real-time endpoints: model versions behind REST, rolling updates, variants.",
                  no_args_is_help=True)

ModelOpt = typer.Option(None, "--model", "-m", help="name:N, name:latest or name@alias.")
VariantOpt = typer.Option(None, "--variant", help="NAME=MODEL:VERSION:WEIGHT, repeatable (e.g. a=cancer:1:90).")
ReplicasOpt = typer.Option(None, "--replicas", help="Replicas per variant (default 1).")
WaitOpt = typer.Option(True, "--wait/--no-wait", help="Wait until the deployment finished.")
BatchOpt = typer.Option(None, "--max-batch-size", help="Rows per model call at most (default 64; 1: no batching).")
WaitMsOpt = typer.Option(None, "--max-batch-wait-ms", help="Wait for a fuller batch, in ms (default 0).")
QueueOpt = typer.Option(None, "--max-queue", help="Requests waiting per replica worker before 503 (default 1024).")
WorkersOpt = typer.Option(None, "--workers", help="Processes per replica sharing its port (default 0: one per core).")
OnnxOpt = typer.Option(None, "--onnx/--no-onnx", help="Serve the verified ONNX export (default: yes).")
MinOpt = typer.Option(None, "--min-replicas", help="Autoscale: replicas at least (0: scale to zero when idle).")
MaxOpt = typer.Option(None, "--max-replicas", help="Autoscale: replicas at most (default 4).")
TargetOpt = typer.Option(None, "--target-inflight", help="Autoscale: requests in flight per replica to aim for "
                         "(default 8).")
InAfterOpt = typer.Option(None, "--scale-in-after", help="Autoscale: stable period before a replica stops "
                          "(90s, 5m; default 5m).")
IdleOpt = typer.Option(None, "--idle-to-zero", help="Autoscale with --min-replicas 0: stop the last replica after "
                       "this long without a request (default 15m).")
ServerlessOpt = typer.Option(None, "--serverless", help="Zero replicas when idle, a cap on concurrency "
                             "(min 0; --max-concurrency).")
ConcurrencyOpt = typer.Option(None, "--max-concurrency", help="Requests in flight at most; more wait in the queue.")
QueueSizeOpt = typer.Option(None, "--queue-size", help="Requests held while no replica is up (default 1000); "
                            "more get 429.")
QueueTimeoutOpt = typer.Option(None, "--queue-timeout", help="How long a held request waits for a replica "
                               "(30s, 2m; default 60s) before 503.")


def _seconds(text: str | None, option: str) -> float | None:
    """``90``, ``90s``, ``5m``, ``1h`` -> seconds; a clear error naming the option otherwise."""
    if text is None:
        return None
    from slipway.errors import InvalidArgument

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    unit = units.get(raw[-1:]) if raw else None
    try:
        value = float(raw[:-1] if unit else raw) * (unit or 1)
    except ValueError:
        raise InvalidArgument(f"{option} {text!r} is not a duration. Expected seconds or a number with s, m, h or d "
                              "(90s, 5m, 1h).", {"field": option, "value": text}) from None
    return value


def _scaling(min_replicas: int | None, max_replicas: int | None, target_inflight: float | None,
             scale_in_after: str | None, idle_to_zero: str | None, serverless: bool | None,
             max_concurrency: int | None, queue_size: int | None, queue_timeout: str | None
             ) -> dict | None:  # type: ignore[type-arg]
    given = {"min_replicas": min_replicas, "max_replicas": max_replicas, "target_inflight": target_inflight,
             "scale_in_after": _seconds(scale_in_after, "--scale-in-after"),
             "idle_to_zero": _seconds(idle_to_zero, "--idle-to-zero"), "serverless": serverless or None,
             "max_concurrency": max_concurrency, "queue_size": queue_size,
             "queue_timeout": _seconds(queue_timeout, "--queue-timeout")}
    given = {k: v for k, v in given.items() if v is not None}
    return given or None


def _serving(max_batch_size: int | None, max_batch_wait_ms: float | None, max_queue: int | None,
             workers: int | None, onnx: bool | None) -> dict | None:  # type: ignore[type-arg]
    given = {"max_batch_size": max_batch_size, "max_batch_wait_ms": max_batch_wait_ms, "max_queue": max_queue,
             "workers": workers, "onnx": onnx}
    given = {k: v for k, v in given.items() if v is not None}
    return given or None


def _variants(spec: dict | None) -> str:  # type: ignore[type-arg]
    if not spec:
        return "-"
    sc = spec.get("scaling")
    count = (f"auto {sc['min_replicas']}-{sc['max_replicas']}" if sc else None)
    return ", ".join(f"{v['name']}={v['model']} ({v['weight']:g}, {count or 'x' + str(v['replicas'])})"
                     for v in spec["variants"])


def _render_scaling(ep: EndpointView) -> None:
    sc = ep.scaling
    if sc is None:
        return
    st = sc.settings
    cap = f", at most {st.max_concurrency} in flight" if st.max_concurrency else ""
    console.print(f"autoscaling: {st.min_replicas}-{st.max_replicas} replicas, target {st.target_inflight:g} in "
                  f"flight per replica, scale in after {st.scale_in_after:g} s"
                  + (f", to zero after {st.idle_to_zero:g} s idle" if st.min_replicas == 0 else "") + cap
                  + f"; queue {st.queue_size} for {st.queue_timeout:g} s", highlight=False)
    cold = "-" if sc.cold_start_seconds is None else f"{sc.cold_start_seconds:.2f} s"
    console.print(f"replicas: {sc.replicas} now, {sc.desired} desired; queue depth {sc.queue_depth}, "
                  f"in flight {sc.in_flight}; 429s {sc.queue_overflows}, 503s {sc.queue_timeouts}; "
                  f"cold start {cold}", highlight=False)
    if sc.variants:  # several variants: each is scaled on its own load (each within the range above)
        table("variants (each scaled on its own load)", ["variant", "model", "weight", "replicas", "desired",
                                                         "last decision"],
              [[v.name, v.model, f"{v.weight:g}", v.replicas, v.desired, v.reason] for v in sc.variants])
    if sc.decisions:
        table("scaling decisions", ["when", "replicas", "desired", "why"],
              [[ago(d.at), d.replicas, d.desired, d.reason] for d in sc.decisions])


def _render(ep: EndpointView) -> None:
    color = {"InService": "green", "Failed": "red"}.get(ep.status, "yellow")
    console.print(f"[bold]{ep.name}[/bold]  [{color}]{ep.status}[/{color}]  {ep.url}")
    if ep.reason:
        console.print(f"reason: {ep.reason}", highlight=False)
    console.print(f"serving: {_variants(ep.live)}")
    if ep.desired != ep.live:
        console.print(f"desired: {_variants(ep.desired)}")
    _render_scaling(ep)
    if ep.replicas:
        table("replicas", ["replica", "variant", "model", "status", "pid", "port", "url"],
              [[r.replica_id, r.variant, r.model, r.status, r.pid, r.port, r.url] for r in ep.replicas])
    if ep.deployments:
        table("deployments", ["#", "kind", "status", "variants", "who", "when", "reason"],
              [[d.number, d.kind, d.status, _variants(d.spec), d.created_by or "-", ago(d.created_at), d.reason]
               for d in ep.deployments])


def _going_on(name: str, what: str, undo: str) -> str:
    return (f"the {what} of endpoint {name} goes on on the server. Watch it: slipway endpoints show {name}; "
            f"{undo}.")


def _finish(ep: EndpointView, output: Output, action: str) -> None:
    emit(ep, output, lambda: _render(ep))
    for warning in ep.warnings:
        err_console.print(f"[yellow]Warning:[/yellow] {warning}", highlight=False)
    failed = ep.deployments and ep.deployments[0].status == "Failed"
    if ep.status == "Failed" or failed:
        err_console.print(f"[red]Error:[/red] {action} of {ep.name} failed: "
                          f"{ep.deployments[0].reason if ep.deployments else ep.reason}", highlight=False)
        raise typer.Exit(1)


@app.command("deploy")
def deploy(ctx: typer.Context, name: str, model: str = ModelOpt, variant: list[str] = VariantOpt,
           replicas: int = ReplicasOpt, wait: bool = WaitOpt, max_batch_size: int = BatchOpt,
           max_batch_wait_ms: float = WaitMsOpt, max_queue: int = QueueOpt, workers: int = WorkersOpt,
           onnx: bool = OnnxOpt, min_replicas: int = MinOpt, max_replicas: int = MaxOpt,
           target_inflight: float = TargetOpt, scale_in_after: str = InAfterOpt, idle_to_zero: str = IdleOpt,
           serverless: bool = ServerlessOpt, max_concurrency: int = ConcurrencyOpt, queue_size: int = QueueSizeOpt,
           queue_timeout: str = QueueTimeoutOpt, output: Output = OutputOpt) -> None:
    """Create an endpoint serving a model version (or weighted variants), with a fixed count or autoscaled."""
    serving = _serving(max_batch_size, max_batch_wait_ms, max_queue, workers, onnx)
    scaling = _scaling(min_replicas, max_replicas, target_inflight, scale_in_after, idle_to_zero, serverless,
                       max_concurrency, queue_size, queue_timeout)
    with keeps_running(_going_on(name, "deployment", f"remove it: slipway endpoints delete {name}")):
        ep = client(ctx).endpoints.deploy(name, model, variants=variant or None, replicas=replicas, wait=wait,
                                          serving=serving, scaling=scaling)
    _finish(ep, output, "deployment")


@app.command("update")
def update(ctx: typer.Context, name: str, model: str = ModelOpt, variant: list[str] = VariantOpt,
           replicas: int = ReplicasOpt, wait: bool = WaitOpt, max_batch_size: int = BatchOpt,
           max_batch_wait_ms: float = WaitMsOpt, max_queue: int = QueueOpt, workers: int = WorkersOpt,
           onnx: bool = OnnxOpt, min_replicas: int = MinOpt, max_replicas: int = MaxOpt,
           target_inflight: float = TargetOpt, scale_in_after: str = InAfterOpt, idle_to_zero: str = IdleOpt,
           serverless: bool = ServerlessOpt, max_concurrency: int = ConcurrencyOpt, queue_size: int = QueueSizeOpt,
           queue_timeout: str = QueueTimeoutOpt,
           fixed: bool = typer.Option(False, "--fixed", help="Turn autoscaling off (the variants' --replicas)."),
           capture: float = typer.Option(None, "--capture", help="Capture this % of requests and answers "
                                         "(0: off; default 100, up to capture_max_per_second). Alone, it "
                                         "changes nothing else."),
           output: Output = OutputOpt) -> None:
    """Rolling, zero-downtime update; if the new version fails to start the old one keeps serving."""
    c = client(ctx)
    if capture is not None:
        config = c.endpoints.set_capture(name, capture)
        if not model and not variant:
            emit(config, output, lambda: console.print(
                f"{name}: capturing {config.percent:g} % of requests (at most {config.max_per_second}/s, bodies "
                f"up to {config.max_bytes} bytes)", highlight=False))
            return
    serving = _serving(max_batch_size, max_batch_wait_ms, max_queue, workers, onnx)
    scaling = _scaling(min_replicas, max_replicas, target_inflight, scale_in_after, idle_to_zero, serverless,
                       max_concurrency, queue_size, queue_timeout)
    with keeps_running(_going_on(name, "update", f"undo it: slipway endpoints rollback {name}")):
        ep = c.endpoints.update(name, model, variants=variant or None, replicas=replicas, wait=wait, serving=serving,
                                scaling=scaling, fixed=fixed)
    _finish(ep, output, "update")


@app.command("rollback")
def rollback(ctx: typer.Context, name: str, wait: bool = WaitOpt, output: Output = OutputOpt) -> None:
    """Go back to the configuration that served before the current one."""
    with keeps_running(_going_on(name, "rollback", f"see what serves: slipway endpoints show {name}")):
        ep = client(ctx).endpoints.rollback(name, wait=wait)
    _finish(ep, output, "rollback")


@app.command("list")
def list_(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """List endpoints with status and what they serve."""
    items = client(ctx).plain.endpoints(limit=1000)  # the server's JSON as it is: no pydantic to import
    emit(items, output, lambda: table(None, ["name", "status", "serving", "replicas", "url", "updated"], [
        [e.name, e.status, _variants(e.live), len(e.replicas), e.url, ago(e.updated_at)] for e in items]))


@app.command("show")
def show(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Status, variants, replicas (with their own ports), URL and the history of deployments."""
    ep = client(ctx).endpoints.get(name)
    emit(ep, output, lambda: _render(ep))


@app.command("metrics")
def metrics(ctx: typer.Context, name: str,
            since: str = typer.Option("1h", "--since", help="A duration back from now (15m, 1h, 2d) or an ISO time."),
            until: str = typer.Option(None, "--until", help="End of the range (default now); same forms as --since."),
            output: Output = OutputOpt) -> None:
    """Per minute and variant: req/s, p50/p95/p99 latency (ms), 4xx and 5xx."""
    m = client(ctx).endpoints.metrics(name, since, until)
    emit(m, output, lambda: _render_metrics(m))


def _render_metrics(m: EndpointMetrics) -> None:
    if not m.points:
        console.print(f"No invocations of {m.endpoint} between {m.since} and {m.until}.", highlight=False)
        return

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    table(f"{m.endpoint} since {m.since}", ["minute", "variant", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms",
                                           "4xx", "5xx"],
          [[p.minute[:16].replace("T", " "), p.variant or "-", p.requests, f"{p.requests_per_second:.2f}",
            ms(p.p50_ms), ms(p.p95_ms), ms(p.p99_ms), p.status_4xx, p.status_5xx] for p in m.points])


@app.command("capture")
def capture(ctx: typer.Context, name: str,
            since: str = typer.Option("1h", "--since", help="A duration back from now (15m, 1h, 2d) or an ISO time."),
            until: str = typer.Option(None, "--until", help="End of the range (default now)."),
            limit: int = typer.Option(20, "--limit", help="The newest records, at most this many."),
            output: Output = OutputOpt) -> None:
    """Captured requests and answers (SageMaker's data-capture format with --output json)."""
    got = client(ctx).endpoints.capture(name, since, until, limit)
    emit(got.records, output, lambda: _render_capture(got))


def _render_capture(got: CaptureRecords) -> None:
    if not got.records:
        console.print(f"No captured requests of {got.endpoint} between {got.since} and {got.until}.", highlight=False)
        return

    def body(part: dict) -> str:  # type: ignore[type-arg]
        text = str(part.get("data", ""))
        text = text if len(text) <= 60 else text[:59] + "…"
        return text + (" [truncated]" if part.get("truncated") else "")

    table(f"{got.endpoint} since {got.since}", ["time", "inference id", "input", "output"],
          [[r["eventMetadata"]["inferenceTime"], r["eventMetadata"].get("inferenceId", ""),
            body(r["captureData"]["endpointInput"]), body(r["captureData"]["endpointOutput"])] for r in got.records])


@app.command("invoke")
def invoke(
    ctx: typer.Context,
    name: str,
    data: str = typer.Option(None, "--data", "-d", help="Request body (JSON by default); @FILE reads a file."),
    content_type: str = typer.Option("application/json", "--content-type", "-t"),
    accept: str = typer.Option("application/json", "--accept"),
    variant: str = typer.Option(None, "--target-variant", help="Send to this variant only."),
    output: Output = OutputOpt,
) -> None:
    """Send one request to an endpoint and print the answer (and which variant gave it)."""
    if data is None:
        body = sys.stdin.buffer.read()
    elif data.startswith("@"):
        body = Path(data[1:]).read_bytes()
    else:
        body = data.encode()
    resp = client(ctx).endpoints.invoke_raw(name, body, content_type, accept, variant)
    if output == Output.json or not resp.headers.get("content-type", "").startswith("application/json"):
        sys.stdout.write(resp.text if resp.text.endswith("\n") else resp.text + "\n")
    else:
        console.print_json(resp.text)
    err_console.print(f"[dim]variant {resp.headers.get('x-slipway-variant')} "
                      f"({resp.headers.get('x-slipway-model')})[/dim]", highlight=False)


@app.command("invoke-async")
def invoke_async(
    ctx: typer.Context,
    name: str,
    input: str = typer.Option(None, "--input", "-i", help="File with the request body (JSON by default); - for stdin."),
    data: str = typer.Option(None, "--data", "-d", help="The request body itself; @FILE reads a file."),
    content_type: str = typer.Option("application/json", "--content-type", "-t"),
    accept: str = typer.Option("application/json", "--accept"),
    callback: str = typer.Option(None, "--callback-url", help="POSTed the result (or the error) as JSON when done."),
    wait: bool = typer.Option(False, "--wait/--no-wait", help="Wait for the result and print it."),
    timeout: float = typer.Option(3600.0, "--timeout", help="Seconds --wait waits at most."),
    output: Output = OutputOpt,
) -> None:
    """Queue a request for an endpoint; prints its id (fetch the result with async-result), or waits for it."""
    if input is not None and data is not None:
        raise typer.BadParameter("give --input or --data, not both", param_hint="--input")
    if input == "-" or (input is None and data is None):
        body = sys.stdin.buffer.read()
    elif input is not None:
        body = Path(input).read_bytes()
    elif data.startswith("@"):
        body = Path(data[1:]).read_bytes()
    else:
        body = data.encode()
    c = client(ctx).endpoints
    view = c.invoke_async(name, data=body, content_type=content_type, accept=accept, callback_url=callback)
    if wait:
        with err_console.status(f"waiting for {view.id} ({view.status})"):
            view = c.wait_async(name, view.id, timeout)
    emit(view, output, lambda: _render_async(view, c if wait else None))


@app.command("async-result")
def async_result(ctx: typer.Context, name: str, invocation_id: str,
                 wait: bool = typer.Option(False, "--wait/--no-wait", help="Wait until it succeeded or failed."),
                 timeout: float = typer.Option(3600.0, "--timeout", help="Seconds --wait waits at most."),
                 output: Output = OutputOpt) -> None:
    """Status of an asynchronous invocation, and its result once it succeeded."""
    c = client(ctx).endpoints
    view = c.wait_async(name, invocation_id, timeout) if wait else c.async_result(name, invocation_id)
    emit(view, output, lambda: _render_async(view, c))


def _render_async(view: AsyncInvocationView, endpoints: object | None) -> None:
    color = {"succeeded": "green", "failed": "red"}.get(view.status, "yellow")
    console.print(f"[bold]{view.id}[/bold]  [{color}]{view.status}[/{color}]  {view.endpoint}", highlight=False)
    if view.status == "queued" and endpoints is None:
        console.print(f"result: slipway endpoints async-result {view.endpoint} {view.id}", highlight=False)
    if view.variant:
        console.print(f"answered by: {view.variant} ({view.model}), HTTP {view.http_status}", highlight=False)
    if view.error:
        console.print(f"error: {view.error}", highlight=False)
    if view.callback_url:
        extra = f": {view.callback_error}" if view.callback_error else ""
        console.print(f"callback: {view.callback_status} after {view.callback_attempts} attempt(s){extra}",
                      highlight=False)
    if view.status == "succeeded":
        if view.result is not None:
            import json

            console.print_json(json.dumps(view.result))
        elif endpoints is not None:
            resp = endpoints.async_output(view.endpoint, view.id)  # type: ignore[attr-defined]
            sys.stdout.write(resp.text if resp.text.endswith("\n") else resp.text + "\n")


@app.command("delete")
def delete(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Stop an endpoint's replicas and remove it."""
    ep = client(ctx).endpoints.delete(name)
    emit(ep, output, lambda: console.print(f"deleted {name}"))
