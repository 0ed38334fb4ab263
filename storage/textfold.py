"""Folding text for blocked-term matching, so a term cannot be dodged by how it is written.

A casefold substring match is beaten by a zero-width space or a soft hyphen inside the word, by
fullwidth letters, by a Cyrillic о for a Latin o, by a combining accent, or by a newline. `fold` undoes
each of these, and both the moderators' terms and every prompt pass through it before they are compared:

1. NFKC, which maps compatibility forms (fullwidth and mathematical letters, ligatures) to plain ones;
2. casefold;
3. decompose and drop combining marks, format characters (zero-width spaces and joiners, the soft
   hyphen, bidi controls) and other invisible characters that draw nothing;
4. drop whitespace and punctuation, so "b a-d" and "b\\nad" read as "bad";
5. map every character to the prototype of its confusable class (Unicode TR39 confusables, from the
   `confusable_homoglyphs` package's copy of confusables.txt), then casefold and drop marks again.

Only matching uses the folded form: what the user typed is stored and shown as it was.
"""

from __future__ import annotations

import functools
import unicodedata

# Categories of characters that draw nothing or only decorate a letter: nonspacing, enclosing and spacing
# combining marks, format characters (ZWSP, ZWJ, soft hyphen, bidi controls), controls, unassigned.
_INVISIBLE = {"Mn", "Me", "Mc", "Cf", "Cc", "Co", "Cn"}
# Letters with the Default_Ignorable_Code_Point property that are not format characters: they render blank.
_BLANK_LETTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u17b4", "\u17b5"}


def _plain(text: str) -> str:
    """Steps 1-4: compatibility forms, case, marks, invisible characters, whitespace and punctuation."""
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(
        char for char in decomposed
        if not char.isspace() and char not in _BLANK_LETTERS
        and (category := unicodedata.category(char)) not in _INVISIBLE and not category.startswith(("P", "Z"))
    )


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each confusable character and the plain form of its class's prototype (built once, on first use).

    The package stores confusables.txt as an undirected graph (each character lists those it may be
    confused with), so the prototype of a class is recovered as TR39 defines it: a multi-character
    sequence when the class has one (sources are single characters; "rn" for "m"), else its ASCII member,
    else its best-connected member. Only equality of prototypes matters, so any consistent pick works.
    """
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    degree: dict[str, int] = {}
    for char, entries in confusables_data.items():
        char = char.replace("\u200e", "")  # the package wraps right-to-left entries in LTR marks
        degree[char] = len(entries)
        for entry in entries:
            other = entry["c"].replace("\u200e", "")
            parent[root(char)] = root(other)
    classes: dict[str, list[str]] = {}
    for node in parent:
        classes.setdefault(root(node), []).append(node)
    table: dict[str, str] = {}
    for members in classes.values():
        prototype = _plain(min(members, key=lambda m: (len(m) == 1, not m.isascii(), -degree.get(m, 0), m)))
        table.update((member, prototype) for member in members if len(member) == 1)
    # Text is casefolded before the lookup: give each member's folded form its class too, unless that
    # form has a class of its own ("I" is confusable with "l", but its folded "i" is not).
    for member, prototype in list(table.items()):
        if len(folded := _plain(member)) == 1:
            table.setdefault(folded, prototype)
    return table


def fold(text: str) -> str:
    """The form of `text` that blocked terms are matched in (see the module docstring)."""
    table = _prototypes()
    return _plain("".join(table.get(char, char) for char in _plain(text)))
