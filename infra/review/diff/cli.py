"""`python -m infra diff A B`: what changes between two offline plans.

A and B are stacks (``dev/cached``) or plan files. Resources are matched by URN; for each
matched pair the planned inputs are compared property by property (nested paths such as
``rootBlockDevice.volumeSize`` or ``tags[stage].value``). A stateful resource (see
``infra.catalog``) is reported as ``REPLACE: data loss`` when its URN goes away while one
of the same type appears (a rename or a new parent, without an alias), or when one of its
replace-triggering inputs changes. The command exits 1 on such a replacement unless it is
allowed (``--allow-replace`` or ``--allow-replace-urn URN``), and 2 on a bad argument.

Every changed resource also gets an *impact*, what AWS does when the change is applied
(``infra.review.impacts``: replace, failover or reboot, rolling refresh, deferred to the
maintenance window, in place, ignored), with its reason and source; an Auto Scaling group
whose launch template changes shows the rolling refresh it starts. One line per diff sums
up the move ("refreshes 1 fleet(s) (~5 min, full capacity), ..., loses no data").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from infra.plans.build import load_or_build
from infra.plans.index import ResourceRefError, resolve_refs
from infra.plans.load import PlanRefError
from infra.plans.preview import PreviewError
from infra.plans.preview_inputs import load_inputs
from infra.review.diff.from_plans import diff_plans
from infra.review.diff.from_preview import diff_preview
from infra.review.diff.model import PlanDiff
from infra.review.diff.render import (
    as_json,
    loud_lines,
    md_escape,
    md_loud,
    render_markdown,
    render_rich,
    summary_line,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infra diff", description=__doc__.split("\n\n")[0])
    p.add_argument("old", metavar="A", nargs="?", help="ENV/STAGE or a plan file (the base)")
    p.add_argument("new", metavar="B", nargs="?", help="ENV/STAGE or a plan file (the change)")
    p.add_argument(
        "--preview",
        metavar="FILE",
        help="judge a real `pulumi preview --json` instead of two plans (no A, B)",
    )
    p.add_argument(
        "--state",
        metavar="FILE",
        help="with --preview: a `pulumi stack export` as the before side",
    )
    p.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    p.add_argument("--allow-replace", action="store_true", help="do not fail on replacements")
    p.add_argument(
        "--allow-replace-urn",
        action="append",
        default=[],
        metavar="URN",
        help="allow the replacement of this resource: its URN (old or new), logical name or "
        "TYPE::NAME; repeatable; one that names no resource is refused",
    )
    return p


def main(argv: list[str]) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line error
        return int(exc.code or 0)
    if args.preview or args.state:
        return _main_preview(args)
    if args.old is None or args.new is None:
        print("error: give A and B (stacks or plan files), or --preview FILE", file=sys.stderr)
        return 2
    if Path(args.old).is_dir() or Path(args.new).is_dir():
        return _main_dirs(args)
    try:
        old, new = load_or_build(args.old), load_or_build(args.new)
        allow = resolve_refs((old, new), args.allow_replace_urn)
    except (PlanRefError, ResourceRefError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    d = diff_plans(
        old,
        new,
        allow_all=args.allow_replace,
        allow_urns=allow,
        old_label=args.old,
        new_label=args.new,
    )
    if args.format == "markdown":
        print(render_markdown(d))
    elif args.format == "json":
        print(json.dumps(as_json(d), indent=2, sort_keys=True))
    else:
        render_rich(d)
    if d.blocking:
        print(
            f"error: {len(d.blocking)} stateful replacement(s) or protected delete(s); pass "
            "--allow-replace or "
            "--allow-replace-urn URN if the data loss is intended",
            file=sys.stderr,
        )
        return 1
    return 0


def _main_dirs(args: argparse.Namespace) -> int:
    """Both refs are plan directories (CI: base and head): diff every ENV-STAGE.json."""
    old_dir, new_dir = Path(args.old), Path(args.new)
    for d in (old_dir, new_dir):
        if not d.is_dir():
            print(
                f"error: {d} is not a directory; give two plan directories or two plans",
                file=sys.stderr,
            )
            return 2
    names = sorted({p.name for d in (old_dir, new_dir) for p in d.glob("*-*.json")})
    if not names:
        print(f"error: no ENV-STAGE.json plan files in {old_dir} or {new_dir}", file=sys.stderr)
        return 2
    empty = {"resources": []}
    diffs: list[PlanDiff] = []
    seen: list[dict[str, Any]] = []
    for name in names:
        a, b = old_dir / name, new_dir / name
        try:
            old = load_or_build(str(a)) if a.exists() else empty
            new = load_or_build(str(b)) if b.exists() else empty
            allow = resolve_refs((old, new), args.allow_replace_urn, unknown_ok=True)
        except (PlanRefError, ResourceRefError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        label = name.removesuffix(".json").replace("-", "/", 1)
        seen += [old, new]
        diffs.append(
            diff_plans(
                old,
                new,
                allow_all=args.allow_replace,
                allow_urns=allow,
                old_label=f"base {label}",
                new_label=f"head {label}",
            )
        )
    try:  # each ref must name a resource in some stack
        resolve_refs(seen, args.allow_replace_urn)
    except ResourceRefError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    changed = [d for d in diffs if d.entries]
    if args.format == "markdown":
        out = ["### Offline infrastructure diff (base → head)", ""]
        if not changed:
            out.append(f"No resource changes in any of the {len(diffs)} stacks.")
        else:
            out += ["| stack | summary | applying it |", "|---|---|---|"]
            out += [
                f"| `{d.new_label.split(' ', 1)[1]}` | {summary_line(d)} | "
                f"{md_escape(d.move_summary().line())} |"
                for d in changed
            ]
            out.append("")
            for d in changed:
                out += [md_loud(line) for line in loud_lines(d)]
            for d in changed:
                body = render_markdown(d, title=f"`{d.new_label.split(' ', 1)[1]}`")
                out += [
                    "",
                    "<details><summary>" + d.new_label.split(" ", 1)[1] + "</summary>",
                    "",
                    body,
                    "</details>",
                ]
            unchanged = len(diffs) - len(changed)
            out += ["", f"{unchanged} other stack(s) unchanged."]
        print("\n".join(out))
    elif args.format == "json":
        print(json.dumps([as_json(d) for d in diffs], indent=2, sort_keys=True))
    else:
        for d in changed:
            render_rich(d)
    blocking = sum(len(d.blocking) for d in diffs)
    if blocking:
        print(
            f"error: {blocking} stateful replacement(s) or protected delete(s) across stacks",
            file=sys.stderr,
        )
        return 1
    return 0


def _main_preview(args: Any) -> int:
    """``diff --preview FILE [--state FILE]`` (argparse namespace from infra.review.diff)."""
    import sys

    if not args.preview:
        print(
            "error: --state needs --preview FILE (a live state and an offline plan carry "
            "different ids, so every reference would differ); allowed: --preview FILE "
            "[--state FILE], or A B",
            file=sys.stderr,
        )
        return 2
    if args.old or args.new:
        print("error: give either A B (plans) or --preview FILE, not both", file=sys.stderr)
        return 2
    try:
        preview, state = load_inputs(args.preview, args.state)
        sides = (preview.old_plan(state), preview.new_plan(state))
        allow = resolve_refs(sides, args.allow_replace_urn)
    except (PreviewError, ResourceRefError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    judged = diff_preview(
        preview,
        state=state,
        allow_all=args.allow_replace,
        allow_urns=allow,
    )
    d = judged.diff
    notes = judged.notes + (
        [f"{judged.reads} read(s) of resources not managed here"] if judged.reads else []
    )
    if args.format == "markdown":
        title = f"Live preview: `{preview.env}` to stage `{preview.stage}` (pulumi preview)"
        body = render_markdown(d, title=title)
        print(body + "\n" + "\n".join(f"- {n}" for n in notes))
    elif args.format == "json":
        doc = as_json(d)
        doc["notes"] = notes
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        render_rich(d)
        for note in notes:
            print(f"note: {note}")
    if d.blocking:
        print(
            f"error: {len(d.blocking)} resource(s) holding data replaced or deleted; pass "
            "--allow-replace or --allow-replace-urn URN if the data loss is intended",
            file=sys.stderr,
        )
        return 1
    return 0
