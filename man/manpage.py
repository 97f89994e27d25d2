#!/usr/bin/env python3
"""Writes a man(7) page for echo-server or echo-client from the argument parser's own
description of its options (`TOOL --experimental-dump-help`), so that the page can never
disagree with `--help`; the sections the parser knows nothing of (exit status, signals,
examples) come from man/<tool>.sections.

    python3 man/manpage.py .build/release/echo-server [VERSION] > echo-server.1
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def roff(text):
    """Escapes text for roff: backslashes, a leading dot or quote, and hyphens (minus signs
    in options, so that they can be searched for and copied)."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def paragraphs(text):
    """The parser's discussion text as roff paragraphs: a blank line would be a warning."""
    out = []
    for block in text.strip().split("\n\n"):
        out.append(".PP")
        out.append(roff(" ".join(block.split())))
    return out


def option_heading(argument):
    names = [
        ("--" if name["kind"] == "long" else "-") + name["name"]
        for name in argument.get("names", [])
    ]
    if argument["kind"] == "positional":
        return "\\fI" + roff(argument["valueName"]) + "\\fR"
    heading = ", ".join("\\fB" + roff(name) + "\\fR" for name in names)
    if argument["kind"] == "option":
        heading += " \\fI" + roff(argument["valueName"]) + "\\fR"
    return heading


def options(command):
    out = []
    for argument in command.get("arguments", []):
        if not argument.get("shouldDisplay", True):
            continue
        out.append(".TP")
        out.append(option_heading(argument))
        text = argument.get("abstract", "")
        if argument.get("defaultValue") and "default" not in text:
            text += " (default: " + argument["defaultValue"] + ")"
        if argument.get("isRepeating") and argument["kind"] == "option" \
                and "repeatable" not in text.lower():
            text += " Repeatable."
        out.append(roff(text))
    return out


def synopsis(command, prefix):
    parts = [prefix]
    for argument in command.get("arguments", []):
        if not argument.get("shouldDisplay", True) or argument["kind"] == "flag":
            continue
        if argument["kind"] == "positional":
            parts.append("\\fI" + roff(argument["valueName"]) + "\\fR")
    parts.append("[\\fIoptions\\fR]")
    return " ".join(parts)


def sections(tool, version):
    path = os.path.join(HERE, tool + ".sections")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [handle.read().replace("@VERSION@", version).rstrip("\n")]


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: manpage.py PATH-TO-TOOL [VERSION]")
    executable = sys.argv[1]
    tool = os.path.basename(executable)
    dump = subprocess.run(
        [executable, "--experimental-dump-help"], check=True, capture_output=True, text=True
    ).stdout
    command = json.loads(dump)["command"]
    version = sys.argv[2] if len(sys.argv) == 3 else ""
    subcommands = [
        sub for sub in command.get("subcommands", []) if sub["commandName"] != "help"
    ]

    page = [
        '.TH "%s" 1 "" "SecureEcho %s" "User Commands"' % (tool.upper(), version),
        ".SH NAME",
        roff(tool) + " \\- " + roff(command.get("abstract", "")),
        ".SH SYNOPSIS",
        ".B " + roff(tool),
        "[\\fIoptions\\fR]",
    ]
    for sub in subcommands:
        page += [".br", synopsis(sub, "\\fB" + roff(tool + " " + sub["commandName"]) + "\\fR")]
    page += [".SH DESCRIPTION"] + paragraphs(command.get("discussion", ""))
    page += [".SH OPTIONS"] + options(command)
    for sub in subcommands:
        name = tool + " " + sub["commandName"]
        page += [".SH " + roff(name.upper())]
        page += paragraphs(sub.get("abstract", "") + "\n\n" + sub.get("discussion", ""))
        # The options shared with the parent are listed once, above.
        shared = {json.dumps(a, sort_keys=True) for a in command.get("arguments", [])}
        own = dict(sub)
        own["arguments"] = [
            a for a in sub.get("arguments", []) if json.dumps(a, sort_keys=True) not in shared
        ]
        page += [".SS Options of " + roff(name)] + options(own)
    page += sections(tool, version)
    sys.stdout.write("\n".join(page) + "\n")


if __name__ == "__main__":
    main()
