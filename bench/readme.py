"""Rewrite the README's generated tables from the stored results.

    python -m bench.readme

Replaces what lies between `<!-- NAME:start ... -->` and `<!-- NAME:end -->` with the output of
the module that prints that table: `robustness` ← `bench.robustness_table` (docs/robustness/*.json),
`bench` ← `bench.table` (bench/results/*.json). Nothing else in the README changes.
"""

from pathlib import Path

from bench import robustness_table, table

README = Path(__file__).resolve().parent.parent / "README.md"
SECTIONS = {"robustness": robustness_table.markdown, "bench": table.markdown}


def replace_section(text: str, name: str, body: str) -> str:
    start_marker, end_marker = f"<!-- {name}:start", f"<!-- {name}:end"
    if start_marker not in text or end_marker not in text:
        raise SystemExit(f"README.md has no {start_marker} … {end_marker} markers")
    start = text.index("\n", text.index(start_marker)) + 1
    end = text.index(end_marker)
    return text[:start] + body + "\n" + text[end:]


def main():
    text = README.read_text()
    for name, fn in SECTIONS.items():
        text = replace_section(text, name, fn())
    README.write_text(text)
    print(f"rewrote the {', '.join(SECTIONS)} tables of {README}")


if __name__ == "__main__":
    main()
