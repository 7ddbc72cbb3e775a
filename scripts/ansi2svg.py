#!/usr/bin/env python3
"""Turns a terminal capture with ANSI SGR codes (tmux capture-pane -e -p) into an SVG.

Usage: ansi2svg.py COLS ROWS < capture.txt > screen.svg
Only what ratatui emits is handled: 16/256/RGB colours, bold, dim, reverse, reset.
"""
import html
import re
import sys

PALETTE = [
    "#1e1e1e", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
    "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff",
]
FG, BG = "#d4d4d4", "#1e1e1e"
CW, CH = 9, 18  # cell size in px for 15px DejaVu Sans Mono


def xterm256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return "#%02x%02x%02x" % (v, v, v)


def parse(text, cols, rows):
    grid = []
    for line in text.split("\n")[:rows]:
        cells, st = [], {"fg": None, "bg": None, "bold": False, "dim": False, "rev": False}
        for tok in re.split(r"(\x1b\[[0-9;]*m)", line):
            if tok.startswith("\x1b["):
                codes = [int(c) if c else 0 for c in tok[2:-1].split(";")] or [0]
                i = 0
                while i < len(codes):
                    c = codes[i]
                    if c == 0:
                        st = {"fg": None, "bg": None, "bold": False, "dim": False, "rev": False}
                    elif c == 1:
                        st["bold"] = True
                    elif c == 2:
                        st["dim"] = True
                    elif c == 7:
                        st["rev"] = True
                    elif c == 22:
                        st["bold"] = st["dim"] = False
                    elif c == 27:
                        st["rev"] = False
                    elif 30 <= c <= 37:
                        st["fg"] = PALETTE[c - 30]
                    elif 90 <= c <= 97:
                        st["fg"] = PALETTE[c - 90 + 8]
                    elif 40 <= c <= 47:
                        st["bg"] = PALETTE[c - 40]
                    elif 100 <= c <= 107:
                        st["bg"] = PALETTE[c - 100 + 8]
                    elif c == 39:
                        st["fg"] = None
                    elif c == 49:
                        st["bg"] = None
                    elif c in (38, 48) and i + 1 < len(codes):
                        key = "fg" if c == 38 else "bg"
                        if codes[i + 1] == 5 and i + 2 < len(codes):
                            st[key] = xterm256(codes[i + 2])
                            i += 2
                        elif codes[i + 1] == 2 and i + 4 < len(codes):
                            st[key] = "#%02x%02x%02x" % tuple(codes[i + 2:i + 5])
                            i += 4
                    i += 1
            else:
                for ch in tok:
                    cells.append((ch, dict(st)))
        cells = cells[:cols] + [(" ", {"fg": None, "bg": None, "bold": False, "dim": False, "rev": False})] * (cols - len(cells))
        grid.append(cells)
    while len(grid) < rows:
        grid.append([(" ", {"fg": None, "bg": None, "bold": False, "dim": False, "rev": False})] * cols)
    return grid


def svg(grid, cols, rows):
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{cols * CW + 20}" height="{rows * CH + 20}">',
        f'<rect width="100%" height="100%" fill="{BG}"/>',
        '<g font-family="DejaVu Sans Mono" font-size="15px" xml:space="preserve">',
    ]
    for y, row in enumerate(grid):
        for x, (ch, st) in enumerate(row):
            fg, bg = st["fg"] or FG, st["bg"]
            if st["rev"]:
                fg, bg = (st["bg"] or BG), (st["fg"] or FG)
            px, py = 10 + x * CW, 10 + y * CH
            if bg:
                out.append(f'<rect x="{px}" y="{py}" width="{CW}" height="{CH}" fill="{bg}"/>')
            if ch != " ":
                weight = ' font-weight="bold"' if st["bold"] else ""
                opacity = ' fill-opacity="0.6"' if st["dim"] else ""
                out.append(
                    f'<text x="{px}" y="{py + 14}" fill="{fg}"{weight}{opacity}>{html.escape(ch)}</text>'
                )
    out.append("</g></svg>")
    return "\n".join(out)


def main():
    cols, rows = int(sys.argv[1]), int(sys.argv[2])
    sys.stdout.write(svg(parse(sys.stdin.read(), cols, rows), cols, rows))


if __name__ == "__main__":
    main()
