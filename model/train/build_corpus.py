"""Build the default model's training corpus from freely licensed English that Debian ships.

    apt-get install dict-wn dict-gcide dict-jargon dict-foldoc fortunes
    python3 model/train/build_corpus.py --out data/corpus

Python, like the rest of model/train/, because the trainer reads what this writes; it needs only
the standard library. What it writes under --out:

- `prose-<source>.txt`, one per source, paragraphs separated by blank lines: the GCIDE's
  definitions as sentences ("Harbor: a portion of a sea ..."), the Jargon File's and FOLDOC's
  entries, and the prose of `fortunes` (ASCII art left out).
- `qa-train.jsonl`, `qa-heldout.jsonl`: one question about a word per line, from WordNet's
  glosses, {"word", "question", "answer", "senses", "text"}, where `text` is the exchange in
  ChatML. Each word is asked in two of several phrasings; a word of several senses is answered
  with up to three of them, numbered. One word in --heldout-every (by a hash of the word, so
  that the split does not move when the packages change) is held out.
- `chat.txt`: the training exchanges, one per paragraph, for the trainer.
- `manifest.json`: each source with its Debian package, version, licence and counts.

A held-out word never appears in training as a question, an answer's subject or an entry of
any source (GCIDE, Jargon, FOLDOC); it may still occur inside the running text of other entries.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

# dictd indexes give offsets and lengths in this base-64 alphabet (dictfmt(1)).
DICTD_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

SOURCES = {
    "wordnet": {"package": "dict-wn", "database": "wn", "licence": "WordNet 3.0 licence (permissive, Princeton University)"},
    "gcide": {"package": "dict-gcide", "database": "gcide", "licence": "GPL-2+ (GNU Collaborative International Dictionary of English)"},
    "jargon": {"package": "dict-jargon", "database": "jargon", "licence": "public domain (The Jargon File 4.4.7)"},
    "foldoc": {"package": "dict-foldoc", "database": "foldoc", "licence": "GFDL-1.1+ (Free On-line Dictionary of Computing, Denis Howe)"},
    "fortunes": {"package": "fortunes", "licence": "BSD (fortune-mod's collection)"},
}

# Fortune files that are pictures, not prose, or Debian's own notes.
FORTUNES_SKIPPED = {"art", "ascii-art", "debian", "translate-me"}

PHRASINGS = [
    "What does {word} mean?",
    "What is the meaning of {word}?",
    "Define {word}.",
    "Can you tell me what {word} means?",
    "What does the word {word} mean?",
    "{Word}: what does that word mean?",
]
PARTS_OF_SPEECH = {"n": "noun", "v": "verb", "adj": "adjective", "adv": "adverb"}
ASCII = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": " - ", "\u00a0": " "})
SPACES = re.compile(r"\s+")
QUESTION_WORD = re.compile(r"^[a-z]{3,20}$")


def chatml(question: str, answer: str) -> str:
    return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n"


def tidy(text: str) -> str:
    return SPACES.sub(" ", text.translate(ASCII)).strip()


def stable_hash(word: str) -> int:
    return int.from_bytes(hashlib.sha1(word.encode("utf-8")).digest()[:8], "big")


def dictd_number(digits: str) -> int:
    value = 0
    for digit in digits:
        value = value * 64 + DICTD_DIGITS.index(digit)
    return value


def dictd_entries(directory: Path, database: str):
    """
    (headword, entry text) of a dictd database, in index order, each entry once (an index may
    point several headwords at one entry: the GCIDE's compounds at their main word's); the
    databases' own `00-…` entries (their notices) left out.
    """
    data = gzip.open(directory / f"{database}.dict.dz").read()
    seen: set[int] = set()
    with open(directory / f"{database}.index", encoding="utf-8") as index:
        for line in index:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 3 or fields[0].startswith("00"):
                continue
            start, length = dictd_number(fields[1]), dictd_number(fields[2])
            if start in seen:
                continue
            seen.add(start)
            yield fields[0], data[start : start + length].decode("utf-8", errors="replace")


# WordNet: "    n 1: gloss [syn: ...]" or "    2: gloss"; a gloss may run over several lines and
# end with examples ('; "bear a grudge"').
WN_SENSE = re.compile(r"^\s+(?:(n|v|adj|adv)\s+)?\d+:\s*(.*)$")
WN_BRACKETS = re.compile(r"\[(?:syn|ant|also|see):[^\]]*\]?", re.S)


def wordnet_senses(entry: str) -> list[tuple[str, str]]:
    """(part of speech, gloss) of each sense, examples and synonym lists removed."""
    senses: list[list[str]] = []
    part = ""
    for line in entry.split("\n")[1:]:
        match = WN_SENSE.match(line)
        if match:
            part = PARTS_OF_SPEECH.get(match[1], part) if match[1] else part
            senses.append([part, match[2]])
        elif senses and line.strip():
            senses[-1][1] += " " + line.strip()
    out = []
    for part, gloss in senses:
        gloss = WN_BRACKETS.sub("", gloss)
        gloss = tidy(gloss.split('; "')[0].replace("{", "").replace("}", ""))
        gloss = gloss.rstrip(";,. ")
        if gloss:
            out.append((part, gloss))
    return out


def answer_for(word: str, senses: list[tuple[str, str]]) -> str:
    if len(senses) == 1:
        return f"{word.capitalize()} means {senses[0][1]}."
    kept = senses[:3]
    listed = " ".join(f"{i}. ({part}) {gloss}." if part else f"{i}. {gloss}." for i, (part, gloss) in enumerate(kept, 1))
    return f"{word.capitalize()} has several meanings. {listed}"


# GCIDE: "Harbor \\Har"bor\\ (pron), n. [etymology]\n   1. Definition.\n   [1913 Webster]"
GCIDE_SENSE = re.compile(r"^\s*(?:\d+\.\s+)?(?:\([^)]*\)\s*)?([A-Z][^\[]*?\.)\s*$", re.S)


def gcide_definitions(entry: str) -> list[str]:
    """The numbered (or single) definitions of a GCIDE entry, without citations, etymology or quotations."""
    definitions = []
    for block in re.split(r"\n\s*\n", entry):
        # Quotations are set deeper (ten spaces and more) than definitions (three to six).
        if len(block) - len(block.lstrip(" ")) >= 8:
            continue
        block = re.sub(r"\[1913 Webster\]|\[PJC\]|\[WordNet 1\.5\]", "", block)
        block = re.sub(r"--[A-Z][\w. ]*$", "", block.strip())
        if "\\" in block.split("\n")[0]:
            block = definition_after_headword(block)
        text = tidy(block.replace("{", "").replace("}", ""))
        match = GCIDE_SENSE.match(text)
        if match and len(match[1]) >= 12:
            definitions.append(match[1])
    return definitions


def definition_after_headword(block: str) -> str:
    """
    The headword's block holds its pronunciation, forms and [etymology] and then, without a blank
    line, its first (or only) definition: that definition, or '' when the block has none.
    """
    rest = re.sub(r"\[[^\]]*\]", "", block.split("\n", 1)[1] if "\n" in block else "")
    numbered = re.search(r"(?m)^\s*1\.\s", rest)
    if numbered:
        return rest[numbered.start() :]
    lines = rest.split("\n")
    # Forms ({Lighthouses}), pronunciations and the etymology's continuation lines come first.
    while lines and not re.match(r"^\s*[A-Z][a-z]* ", lines[0]):
        lines.pop(0)
    return "\n".join(lines)


def gcide_headword(indexed: str, entry: str) -> str:
    """The word an entry defines (`Harbor \\Har"bor\\ ...`), which the index may list under a compound."""
    match = re.match(r"^([^\\\n]+?)\s*\\", entry)
    return match[1].strip() if match else indexed


def entry_prose(headword: str, entry: str) -> str:
    """A Jargon File or FOLDOC entry as one paragraph: its headword, then its text."""
    lines = entry.split("\n")
    body = tidy(" ".join(lines[1:]).replace("{", "").replace("}", ""))
    body = re.sub(r"\(\d{4}-\d{2}-\d{2}\)\s*$", "", body).strip()
    return f"{headword}: {body}" if body else ""


def fortunes(directory: Path):
    for path in sorted(directory.iterdir()):
        if path.suffix or path.is_symlink() or path.name in FORTUNES_SKIPPED or not path.is_file():
            continue
        for text in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            text = tidy(text.strip("%\n"))
            letters = sum(c.isalpha() for c in text)
            # ASCII art and tables: mostly not letters.
            if len(text) >= 20 and letters >= 0.6 * len(text):
                yield text


def package_version(package: str) -> str | None:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=True).stdout or None
    except (OSError, subprocess.CalledProcessError):
        return None


def missing_sources(dictd: Path, fortunes_dir: Path) -> list[str]:
    """What is not installed, each with the package that installs it."""
    missing = []
    for meta in SOURCES.values():
        database = meta.get("database")
        if database and not (dictd / f"{database}.index").is_file():
            missing.append(f"{dictd / (database + '.index')} (apt-get install {meta['package']})")
    if not fortunes_dir.is_dir():
        missing.append(f"{fortunes_dir} (apt-get install fortunes)")
    return missing


def build(dictd: Path, fortunes_dir: Path, out: Path, heldout_every: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}

    def held_out(word: str) -> bool:
        return stable_hash(word.lower()) % heldout_every == 0

    # Questions from WordNet's glosses.
    train, heldout = [], []
    for headword, entry in dictd_entries(dictd, "wn"):
        word = headword.lower()
        if not QUESTION_WORD.match(word):
            continue
        senses = wordnet_senses(entry)
        if not senses:
            continue
        answer = answer_for(word, senses)
        first = stable_hash(word + "#phrasing") % len(PHRASINGS)
        for phrasing in (PHRASINGS[first], PHRASINGS[(first + 3) % len(PHRASINGS)]):
            question = phrasing.format(word=word, Word=word.capitalize())
            item = {"word": word, "question": question, "answer": answer, "senses": len(senses), "text": chatml(question, answer)}
            (heldout if held_out(word) else train).append(item)
    for name, items in (("qa-train.jsonl", train), ("qa-heldout.jsonl", heldout)):
        with open(out / name, "w", encoding="utf-8") as f:
            for item in items:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
    with open(out / "chat.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(item["text"] for item in train))
    counts["wordnet"] = {"questions": len(train), "heldout_questions": len(heldout), "words": len({i["word"] for i in train}), "heldout_words": len({i["word"] for i in heldout})}

    # Prose: dictionary entries (held-out headwords left out) and fortunes.
    def write_prose(source: str, paragraphs) -> None:
        kept = [p for p in paragraphs if p]
        (out / f"prose-{source}.txt").write_text("\n\n".join(kept) + "\n", encoding="utf-8")
        counts[source] = {"paragraphs": len(kept), "characters": sum(len(p) for p in kept)}

    write_prose("gcide", (f"{gcide_headword(h, e)}: {d}" for h, e in dictd_entries(dictd, "gcide") if not held_out(gcide_headword(h, e)) for d in gcide_definitions(e)))
    for source in ("jargon", "foldoc"):
        write_prose(source, (entry_prose(h, e) for h, e in dictd_entries(dictd, SOURCES[source]["database"]) if not held_out(h)))
    write_prose("fortunes", fortunes(fortunes_dir))

    manifest = {
        "heldout_every": heldout_every,
        "sources": {name: {**meta, "version": package_version(meta["package"]), **counts.get(name, {})} for name, meta in SOURCES.items()},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--dictd", default=Path("/usr/share/dictd"), type=Path, help="where the dictd databases are")
    parser.add_argument("--fortunes", default=Path("/usr/share/games/fortunes"), type=Path)
    parser.add_argument("--heldout-every", default=50, type=int, help="one word in N is held out")
    args = parser.parse_args()
    if args.heldout_every < 2:
        parser.error("--heldout-every must be at least 2")
    missing = missing_sources(args.dictd, args.fortunes)
    if missing:
        parser.error("missing sources:\n  " + "\n  ".join(missing))
    manifest = build(args.dictd, args.fortunes, args.out, args.heldout_every)
    for name, source in manifest["sources"].items():
        figures = ", ".join(f"{k} {v}" for k, v in source.items() if isinstance(v, int))
        print(f"{name}: {figures}")
    print(f"-> {os.fspath(args.out)}")


if __name__ == "__main__":
    main()
