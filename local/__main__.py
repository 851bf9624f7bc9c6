"""Command line for the local cloud: `python -m local COMMAND`.

demo                  the scripted end-to-end demo (`make demo`)
serve                 start the emulators and print how to reach them, until Ctrl-C
invoke EVENT          run the real function once with an event file (or - for stdin),
                      sync or --async, on a fresh local cloud with the event's tasks created
publish BODY          deliver an MNS topic message to the function (format from template.yml)
tick                  fire the timer trigger once
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from local.cloud import LocalCloud
from local.httpserver import wait_for_interrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the end-to-end demo")
    serve = sub.add_parser("serve", help="start the emulators until Ctrl-C")
    serve.add_argument("--root", type=Path, help="keep OSS data here (default: a temp dir)")

    invoke = sub.add_parser("invoke", help="run the function once with an event")
    invoke.add_argument("event", help="event file, or - for stdin (see events/)")
    invoke.add_argument("--async", dest="is_async", action="store_true", help="invoke async")
    invoke.add_argument(
        "--no-seed",
        action="store_true",
        help="do not create the event's TaskIds as finished tasks in the alimt emulator",
    )
    invoke.add_argument("--timeout", type=float, help="override the function timeout (s)")

    publish = sub.add_parser("publish", help="deliver an MNS topic message")
    publish.add_argument("body", help="message body: a TaskId or JSON")
    publish.add_argument("--attr", action="append", default=[], help="message attribute k=v")
    publish.add_argument("--format", choices=("JSON", "STREAM"), help="override the trigger's")
    publish.add_argument("--no-seed", action="store_true")

    sub.add_parser("tick", help="fire the timer trigger once")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from local.demo import run_demo

        return run_demo()
    if args.command == "serve":
        return _serve(args.root)
    return _run_once(args)


def _serve(root: Path | None) -> int:
    with LocalCloud(root) as cloud:
        print("local cloud running; function environment:")
        for key, value in cloud.function_env().items():
            print(f"  {key}={value}")
        print(f"admin access key: {cloud.admin.access_key_id} / {cloud.admin.access_key_secret}")
        print("Ctrl-C to stop")
        wait_for_interrupt()
        return 0


def _seed(cloud: LocalCloud, raw: bytes) -> None:
    """Create a finished task in the emulator for every TaskId the event names, so it collects."""
    from collector.errors import InvalidEvent
    from collector.events import parse_trigger_event

    try:
        event = parse_trigger_event(raw)
    except InvalidEvent:
        return
    for request in event.tasks:
        urls = cloud.add_images(f"seed/{request.task_id}", 2)
        cloud.alimt.create_task(urls, task_id=request.task_id, need_editor_data=True)


def _run_once(args: argparse.Namespace) -> int:
    with LocalCloud() as cloud:
        runner = cloud.runner(
            timeout_override=getattr(args, "timeout", None),
            log_sink=lambda line: print(line, file=sys.stderr),
        )
        with runner:
            if args.command == "invoke":
                raw = (
                    sys.stdin.buffer.read() if args.event == "-" else Path(args.event).read_bytes()
                )
                if not args.no_seed:
                    _seed(cloud, raw)
                if args.is_async:
                    outcome = runner.invoke_async(raw)
                    _print(
                        {
                            "destination": outcome.destination,
                            "attempts": len(outcome.attempts),
                            "record": str(outcome.record_path) if outcome.record_path else None,
                            "last": _describe(outcome.attempts[-1]),
                        }
                    )
                    return 0 if outcome.ok else 1
                result = runner.invoke(raw)
                _print(_describe(result))
                return 0 if result.ok else 1
            if args.command == "publish":
                if not args.no_seed:
                    _seed(cloud, args.body.encode())
                if args.format:
                    runner.reconfigure_trigger("mns_topic", notifyContentFormat=args.format)
                attrs = dict(a.split("=", 1) for a in args.attr) or None
                delivery = runner.publish_mns(args.body, attrs)
                _print(
                    {
                        "consumed": delivery.consumed,
                        "attempts": [_describe(a) for a in delivery.attempts],
                    }
                )
                return 0 if delivery.consumed else 1
            result = runner.tick_timer()
            _print(_describe(result))
            return 0 if result.ok else 1


def _describe(result: Any) -> dict[str, Any]:
    return {
        "requestId": result.request_id,
        "ok": result.ok,
        "result": result.result,
        "error": result.error,
        "timedOut": result.timed_out,
        "durationSeconds": round(result.duration_s, 3),
    }


def _print(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
