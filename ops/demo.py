"""The end of `make demo`: the operator's views of what happened, through the real CLI code.

`local/demo.py` calls `show_operator_views` after the collector has run: it prints the status
summary and writes the gallery page of one task, then prints the page's path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ops.cli import main


def local_cloud_env(cloud: Any) -> dict[str, str]:
    """What an operator would export to point the CLI at the local cloud (admin access key)."""
    return {
        **cloud.function_env(),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": cloud.admin.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": cloud.admin.access_key_secret,
    }


def show_operator_views(cloud: Any, task_id: str, output_dir: Path) -> Path:
    env = local_cloud_env(cloud)
    print("\n== alimt-collector status " + "=" * 51, flush=True)
    main(["status", "--quiet"], env=env)

    # The manifest keeps source URLs without their signatures: hand the gallery the originals.
    task = cloud.alimt.task(task_id)
    sources = output_dir / f"sources-{task_id}.txt"
    sources.write_text("\n".join(task.image_urls if task else []) + "\n", encoding="utf-8")
    page = output_dir / f"gallery-{task_id}.html"
    print(f"\n== alimt-collector gallery {task_id} " + "=" * 12, flush=True)
    main(["gallery", task_id, "--sources", str(sources), "--out", str(page)], env=env)
    return page
