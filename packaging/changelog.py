#!/usr/bin/env python3
"""The release's CHANGELOG section, checked against the repository (packaging/release.sh).

    changelog.py check   --since REV                      exit 1 naming what is missing
    changelog.py release --since REV --version V --date D  move [Unreleased] to [V] - D
    changelog.py notes   --version V --date D              release notes from the template

`check` lists the migration files added since REV (every one must be named under
"### Migrations" of [Unreleased]) and the settings (environment variables of
src/config.rs) added, removed or given another default since REV (every one must be
named under "### Settings"). Without REV (the first release) everything counts as new.
"""

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHANGELOG = ROOT / "CHANGELOG.md"
TEMPLATE = ROOT / "docs" / "release-notes-template.md"


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def new_migrations(since):
    if since:
        out = git("diff", "--name-only", "--diff-filter=A", since, "HEAD", "--", "migrations/sqlite/")
        files = out.split()
    else:
        files = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "migrations" / "sqlite").glob("*.sql"))]
    return [Path(f).stem for f in files]


ARG = re.compile(r"#\[arg\((.*?)\)\]", re.S)
ENV = re.compile(r'env\s*=\s*"([A-Z0-9_]+)"')
DEFAULT = re.compile(r'default_value(?:_t)?\s*=\s*("(?:[^"\\]|\\.)*"|[^,)\s]+)')


def settings(source):
    """Environment variable -> default (None without one) of every #[arg] in source."""
    found = {}
    for attr in ARG.findall(source):
        env = ENV.search(attr)
        if env:
            default = DEFAULT.search(attr)
            found[env.group(1)] = default.group(1) if default else None
    return found


def changed_settings(since):
    now = settings((ROOT / "src" / "config.rs").read_text())
    before = settings(git("show", f"{since}:src/config.rs")) if since else {}
    return sorted(name for name in set(now) | set(before) if now.get(name, "-") != before.get(name, "-"))


def unreleased(text):
    start = text.index("## [Unreleased]")
    end = text.find("\n## [", start + 1)
    return start, (len(text) if end < 0 else end + 1)


def subsection(section, title):
    match = re.search(rf"^### {title}\n(.*?)(?=^### |\Z)", section, re.S | re.M)
    return match.group(1) if match else None


def check(since):
    text = CHANGELOG.read_text()
    start, end = unreleased(text)
    section = text[start:end]
    problems = []
    migrations = subsection(section, "Migrations") or ""
    for name in new_migrations(since):
        if f"`{name}`" not in migrations:
            problems.append(f"migration {name} is not named under ### Migrations")
    setting_text = subsection(section, "Settings") or ""
    for name in changed_settings(since):
        if not re.search(rf"\b{name}\b", setting_text):
            problems.append(f"setting {name} (new, removed or with another default) is not named under ### Settings")
    return problems


def release(since, version, date):
    problems = check(since)
    if problems:
        sys.exit("CHANGELOG.md [Unreleased] is incomplete:\n  " + "\n  ".join(problems))
    text = CHANGELOG.read_text()
    start, end = unreleased(text)
    body = text[start + len("## [Unreleased]"):end]
    if "### Breaking changes" not in body:
        body = body.rstrip("\n") + "\n\n### Breaking changes\n- None.\n\n"
    if "### Migrations" not in body:
        body = body.rstrip("\n") + "\n\n### Migrations\n- None.\n\n"
    if "### Settings" not in body:
        body = body.rstrip("\n") + "\n\n### Settings\n- None.\n\n"
    CHANGELOG.write_text(text[:start] + f"## [Unreleased]\n\n## [{version}] - {date}" + body + text[end:])


def notes(version, date):
    text = CHANGELOG.read_text()
    start = text.index(f"## [{version}]")
    end = text.find("\n## [", start + 1)
    section = text[start:(len(text) if end < 0 else end)]
    draft = re.sub(r"<!--.*?-->\n?", "", TEMPLATE.read_text(), flags=re.S)
    draft = draft.replace("X.Y.Z", version).replace("YYYY-MM-DD", date)
    for title in ("Breaking changes", "Migrations", "Settings"):
        listed = (subsection(section, title) or "- None.\n").strip()
        draft = re.sub(rf"(^## {title}\n)(.*?)(?=^## |\Z)", lambda m: m.group(1) + "\n" + listed + "\n\n", draft, flags=re.S | re.M)
    return draft.rstrip() + "\n\n## All changes\n\n" + section.split("\n", 1)[1].strip() + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["check", "release", "notes"])
    parser.add_argument("--since", default="")
    parser.add_argument("--version")
    parser.add_argument("--date")
    args = parser.parse_args()
    if args.command == "check":
        problems = check(args.since)
        for p in problems:
            print(p, file=sys.stderr)
        sys.exit(1 if problems else 0)
    if args.command == "release":
        release(args.since, args.version, args.date)
    else:
        sys.stdout.write(notes(args.version, args.date))


if __name__ == "__main__":
    main()
