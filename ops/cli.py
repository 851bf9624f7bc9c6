"""`alimt-collector`: the operator's command line. See `alimt-collector <command> --help`.

Exit status: 0 done; 1 the operation failed or found nothing (unknown task, refused batch, OSS
error); 2 bad usage or configuration (no credentials, say); 130 interrupted. Results go to stdout
(`--json` for scripts); progress and warnings go to stderr; failures are one line saying what to do
(`ops.messages`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from collector.config import ConfigError
from collector.errors import CollectorError
from collector.models import task_id_problem
from ops.messages import explain
from ops.progress import NoProgress, Progress
from ops.settings import OpsSettings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it
DISTRIBUTION = "alimt-result-collector"

ENV_HELP = """
environment (the function's variables; flags override them):
  OUTPUT_BUCKET, OUTPUT_PREFIX (translated/), STATE_PREFIX (collector/),
  OSS_ENDPOINT (default: the public https://oss-<region>.aliyuncs.com),
  ALIMT_ENDPOINT (submit, sweep; mt.cn-hangzhou.aliyuncs.com), ALIBABA_CLOUD_REGION_ID (cn-hangzhou)
credentials (the Alibaba Cloud default chain, first found wins):
  ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET (+ ALIBABA_CLOUD_SECURITY_TOKEN); the CLI profile in
  ~/.aliyun/config.json (--profile or ALIBABA_CLOUD_PROFILE, else its current one);
  ~/.alibabacloud/credentials.ini; the ECS instance's RAM role
"""


# adds one subcommand: (name, help, epilog, *, alimt=..., quiet=...) -> its parser
Command = Callable[..., argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_argument_group("where")
    where.add_argument("--bucket", help="output bucket (default: $OUTPUT_BUCKET)")
    where.add_argument("--oss-endpoint", help="OSS endpoint (default: $OSS_ENDPOINT or public)")
    where.add_argument("--region", help="region for the default OSS endpoint")
    where.add_argument(
        "--profile", help="CLI/credentials-file profile (default: $ALIBABA_CLOUD_PROFILE)"
    )
    # options only some commands use (argparse merges the "where" groups of the parents)
    alimt_api = argparse.ArgumentParser(add_help=False)
    alimt_api.add_argument_group("where").add_argument(
        "--alimt-endpoint", help="alimt endpoint (default: $ALIMT_ENDPOINT)"
    )
    progress = argparse.ArgumentParser(add_help=False)
    progress.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    parser = argparse.ArgumentParser(
        prog="alimt-collector",
        description="Operate the alimt result collector: submit batches, inspect task state, "
        "redrive dead letters, render galleries.",
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, help_text: str, epilog: str, *, alimt: bool = False, quiet: bool = False
    ) -> argparse.ArgumentParser:
        """`alimt`: the command calls the alimt API; `quiet`: it prints progress on stderr."""
        sub = commands.add_parser(
            name,
            parents=[common, *([alimt_api] if alimt else []), *([progress] if quiet else [])],
            help=help_text,
            description=help_text,
            epilog=epilog + ENV_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        # Every command used to take both: scripts passing them elsewhere keep working (unlisted).
        if not alimt:
            sub.add_argument("--alimt-endpoint", help=argparse.SUPPRESS)
        if not quiet:
            sub.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
        return sub

    from ops.purge_partial import add_parser as add_purge_partial

    for add in (
        _add_submit,
        _add_status,
        _add_redrive,
        _add_gallery,
        _add_sweep,
        add_purge_partial,
    ):
        add(command)
    return parser


def _add_submit(command: Command) -> None:
    submit = command(
        "submit",
        "Start image batch translations (TranslateImageBatch) and register each TaskId as pending.",
        "example:\n  alimt-collector submit --from zh --to en --file urls.txt --custom-task-id shoes-0412\n"
        "prints one TaskId per line (20 images per batch at most; longer lists are split).\n",
        alimt=True,
        quiet=True,
    )
    submit.add_argument("urls", nargs="*", metavar="URL", help="image URLs")
    submit.add_argument("--file", "-f", help="file with one image URL per line ('-' for stdin)")
    submit.add_argument("--from", dest="source_language", required=True, help="e.g. zh")
    submit.add_argument("--to", dest="target_language", required=True, help="e.g. en")
    submit.add_argument(
        "--scene",
        "--field",
        dest="field",
        default="general",
        choices=("general", "e-commerce"),
        help="translation scene (Field)",
    )
    submit.add_argument(
        "--no-editor-data",
        action="store_true",
        help="do not ask for inpainting images and templates (needEditorData)",
    )
    submit.add_argument("--custom-task-id", help="de-duplication key (CustomTaskId, 3 minutes)")
    submit.add_argument("--output-prefix", help="copy this task's results under this prefix")
    submit.add_argument(
        "--no-register",
        action="store_true",
        help="do not write the pending record (you publish the TaskId yourself)",
    )
    submit.add_argument("--json", action="store_true", help="print the batches as JSON")


def _add_status(command: Command) -> None:
    status = command(
        "status",
        "Show one task's state, or a summary of all tasks (counts per state, oldest pending, "
        "dead letters by code).",
        "examples:\n  alimt-collector status\n  alimt-collector status 6F1C0F0A-... --json\n",
        quiet=True,
    )
    status.add_argument("task_id", nargs="?", metavar="TASK_ID")
    status.add_argument("--output-prefix", help="where the task's results were copied")
    status.add_argument("--json", action="store_true", help="machine-readable output")


def _add_redrive(command: Command) -> None:
    redrive = command(
        "redrive",
        "Move dead letters back to pending, so the next sweep collects them.",
        "examples:\n  alimt-collector redrive --code 110 --dry-run\n"
        "  alimt-collector redrive --all\n  alimt-collector redrive 6F1C0F0A-... --force\n",
        quiet=True,
    )
    redrive.add_argument("task_id", nargs="?", metavar="TASK_ID", help="one task")
    redrive.add_argument("--all", action="store_true", help="every redrivable dead letter")
    redrive.add_argument("--code", help="only letters with this code (e.g. 110)")
    redrive.add_argument(
        "--older-than", help="only letters dead-lettered longer ago (90s, 15m, 2h, 3d)"
    )
    redrive.add_argument("--force", action="store_true", help="also letters marked not redrivable")
    redrive.add_argument(
        "--dry-run", action="store_true", help="show what would move; change nothing"
    )
    redrive.add_argument("--json", action="store_true", help="machine-readable output")


def _add_gallery(command: Command) -> None:
    gallery = command(
        "gallery",
        "Write an HTML page showing each image's source, translation and inpainting side by side.",
        "example:\n  alimt-collector gallery 6F1C0F0A-... --sources urls.txt --out /tmp/task.html\n",
    )
    gallery.add_argument("task_id", metavar="TASK_ID")
    gallery.add_argument("--out", "-o", help="output file (default ./gallery-<TaskId>.html)")
    gallery.add_argument("--output-prefix", help="where the task's results were copied")
    gallery.add_argument(
        "--sources", help="file of the original (signed) source URLs, to fetch them"
    )
    gallery.add_argument(
        "--no-source-fetch", action="store_true", help="show sources as links only"
    )
    gallery.add_argument(
        "--links", action="store_true", help="presigned OSS links instead of embedded thumbnails"
    )
    gallery.add_argument("--link-expires", type=int, default=3600, help="seconds (with --links)")


def _add_sweep(command: Command) -> None:
    sweep = command(
        "sweep",
        "Run the function's timer sweep now, from here (logs JSON lines like the function).",
        "example:\n  alimt-collector sweep --max-tasks 100\n",
        alimt=True,
    )
    sweep.add_argument("--max-tasks", type=int, help="check at most this many due tasks")
    sweep.add_argument("--max-seconds", type=float, help="time budget (default $SWEEP_MAX_SECONDS)")


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    try:
        settings = OpsSettings.resolve(
            env,
            bucket=args.bucket,
            oss_endpoint=args.oss_endpoint,
            alimt_endpoint=getattr(args, "alimt_endpoint", None),
            region=args.region,
            profile=args.profile,
        )
    except ConfigError as problem:
        print(f"alimt-collector {args.command}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _COMMANDS[args.command](settings, args)
    except UsageError as problem:
        print(f"alimt-collector {args.command}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except CollectorError as error:
        print(f"alimt-collector {args.command}: {explain(error, settings)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"alimt-collector {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def package_version() -> str:
    """The installed distribution's version (pyproject), e.g. `0.1.0`."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


class UsageError(ValueError):
    pass


def _progress(args: argparse.Namespace) -> Any:
    if getattr(args, "quiet", False):
        return lambda label: NoProgress()
    return lambda label: Progress(label)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=1, ensure_ascii=False))


def _read_lines(path: str) -> list[str]:
    from ops.submit import read_url_lines

    if path == "-":
        return read_url_lines(sys.stdin)
    try:
        return read_url_lines(Path(path).read_text(encoding="utf-8").splitlines())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _check_task_id(task_id: str) -> None:
    problem = task_id_problem(task_id)
    if problem:
        raise UsageError(problem)


# --- commands ------------------------------------------------------------------------------------
def cmd_submit(settings: OpsSettings, args: argparse.Namespace) -> int:
    from ops.submit import SubmitError, SubmitRequest, SubmittedBatch, submit

    urls = list(args.urls) + (_read_lines(args.file) if args.file else [])
    request = SubmitRequest(
        image_urls=tuple(urls),
        source_language=args.source_language,
        target_language=args.target_language,
        field=args.field,
        need_editor_data=not args.no_editor_data,
        custom_task_id=args.custom_task_id,
        output_prefix=args.output_prefix,
    )
    problems = request.problems()
    if problems:
        raise UsageError("; ".join(problems))

    def announce(batch: SubmittedBatch) -> None:
        if not args.json:
            print(batch.task_id, flush=True)  # printed at once: never lose an accepted TaskId
        if batch.registration_error:
            print(
                f"warning: {batch.task_id} was NOT registered as pending "
                f"({batch.registration_error}); publish it to the MNS topic or retry",
                file=sys.stderr,
            )
        elif not args.quiet:
            state = "registered as pending" if batch.registered else "already registered"
            print(f"{batch.task_id}: {batch.image_count} image(s), {state}", file=sys.stderr)

    try:
        batches = submit(settings, request, register=not args.no_register, on_submitted=announce)
    except SubmitError as refused:
        if args.json:
            _print_json(
                {"batches": [b.to_json() for b in refused.submitted], "error": str(refused)}
            )
        said = explain(refused.cause, settings) if refused.cause else f"refused: {refused}"
        print(f"alimt-collector submit: {said}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        _print_json({"batches": [b.to_json() for b in batches]})
    return EXIT_OK


def cmd_status(settings: OpsSettings, args: argparse.Namespace) -> int:
    from ops import status

    store = settings.object_store()
    if args.task_id:
        _check_task_id(args.task_id)
        report = status.task_status(store, settings.layout, args.task_id, args.output_prefix)
        if args.json:
            _print_json(report)
        else:
            print(status.render_task(report))
        return EXIT_OK if report["state"] != "unknown" else EXIT_FAILED
    result = status.summary(store, settings.layout, progress=_progress(args))
    if args.json:
        _print_json({"bucket": settings.config.output_bucket, **result.to_json()})
    else:
        print(status.render_summary(result, settings.config.output_bucket, settings.layout))
    return EXIT_OK


def cmd_redrive(settings: OpsSettings, args: argparse.Namespace) -> int:
    from ops.redrive import RedriveSelection, parse_duration, redrive, render

    if args.task_id:
        _check_task_id(args.task_id)
    try:
        older = parse_duration(args.older_than) if args.older_than else None
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    selection = RedriveSelection(
        task_id=args.task_id, code=args.code, older_than_seconds=older, everything=args.all
    )
    if selection.is_empty() and not args.all:
        raise UsageError("choose what to redrive: TASK_ID, --code, --older-than or --all")
    report = redrive(
        settings.object_store(),
        settings.layout,
        selection,
        force=args.force,
        dry_run=args.dry_run,
        progress=_progress(args),
    )
    if args.json:
        _print_json(report.to_json())
    else:
        print(render(report))
    if report.failed or (args.task_id and not report.moved):
        return EXIT_FAILED
    return EXIT_OK


def cmd_gallery(settings: OpsSettings, args: argparse.Namespace) -> int:
    from collector.state import ManifestStore
    from ops.gallery import GalleryBuilder, render_html, source_map
    from ops.status import task_status
    from ops.submit import submission_key

    _check_task_id(args.task_id)
    store = settings.object_store()
    manifest = ManifestStore(store, settings.layout).get(args.task_id, args.output_prefix)
    if manifest is None:
        state = task_status(store, settings.layout, args.task_id, args.output_prefix)
        prefix = (state.get("copied") or {}).get("outputPrefix")
        if state["state"] == "copied" and prefix:
            manifest = store.get_json(settings.layout.manifest_key_under(prefix))
        if manifest is None:
            print(
                f"alimt-collector gallery: {args.task_id} has no manifest (state: "
                f"{state['state']}); see `alimt-collector status {args.task_id}`",
                file=sys.stderr,
            )
            return EXIT_FAILED
    builder = GalleryBuilder(
        settings.oss_bucket(),
        links=args.links,
        link_expiry_seconds=args.link_expires,
        sources=source_map(_read_lines(args.sources)) if args.sources else None,
        fetch_sources=not args.no_source_fetch,
    )
    try:  # what was asked (languages, field): shown when `submit` recorded it
        submission = store.get_json(submission_key(settings.layout, args.task_id))
    except CollectorError:
        submission = None  # e.g. no read access to the state prefix: the page does without it
    page = render_html(args.task_id, manifest, builder.rows(manifest), submission)
    out = Path(args.out or f"gallery-{args.task_id}.html")
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror} (choose another --out)") from None
    print(out.resolve())
    return EXIT_OK


def cmd_sweep(settings: OpsSettings, args: argparse.Namespace) -> int:
    from ops.sweep import run_sweep

    report = run_sweep(settings, max_tasks=args.max_tasks, max_seconds=args.max_seconds)
    counts = report["counts"]
    return EXIT_FAILED if counts.get("retry") else EXIT_OK


def cmd_purge_partial(settings: OpsSettings, args: argparse.Namespace) -> int:
    from ops import purge_partial

    return purge_partial.cmd_purge_partial(settings, args)


_COMMANDS = {
    "submit": cmd_submit,
    "status": cmd_status,
    "redrive": cmd_redrive,
    "gallery": cmd_gallery,
    "sweep": cmd_sweep,
    "purge-partial": cmd_purge_partial,
}
