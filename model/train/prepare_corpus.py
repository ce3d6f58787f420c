"""Turn the World English Bible, as printed by SWORD's diatheke, into plain training text.

    apt-get install sword-text-web diatheke
    diatheke -b engWEB2015eb -f plaintext -k "Gen 1:1-Rev 22:21" > web.osis.txt
    python3 model/train/prepare_corpus.py web.osis.txt corpus.txt

diatheke's plaintext filter still leaves the module's OSIS markup in, so it is stripped here.
Verses of one chapter are joined into one paragraph: the model should learn running prose, not
verse references. Typographic quotes become ASCII so the small vocabulary is not spent on them.
"""

import re
import sys

VERSE = re.compile(r"^(?P<book>.+?) (?P<chapter>\d+):(?P<verse>\d+): ?(?P<text>.*)$")
DROP_WITH_CONTENT = re.compile(r"<(title|note|speaker)\b[^>]*>.*?</\1>", re.S)
TAG = re.compile(r"<[^>]+>")
SPACES = re.compile(r"[ \t]+")
ASCII = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": " - ", "\u00a0": " "})


def clean(text: str) -> str:
    # Adjacent word tags carry no space between them in the module ("God</w><w>created").
    text = text.replace("</w><w", "</w> <w")
    text = DROP_WITH_CONTENT.sub(" ", text)
    text = TAG.sub("", text)
    text = text.translate(ASCII)
    return SPACES.sub(" ", text).strip()


def main(src: str, dst: str) -> None:
    paragraphs: list[str] = []
    current: list[str] = []
    key = None
    with open(src, encoding="utf-8") as f:
        for line in f:
            m = VERSE.match(line.rstrip("\n"))
            if not m:
                continue
            chapter = (m["book"], m["chapter"])
            if chapter != key and current:
                paragraphs.append(" ".join(current))
                current = []
            key = chapter
            text = clean(m["text"])
            if text:
                current.append(text)
    if current:
        paragraphs.append(" ".join(current))
    with open(dst, "w", encoding="utf-8") as f:
        f.write("\n\n".join(paragraphs) + "\n")
    print(f"{len(paragraphs)} chapters, {sum(len(p) for p in paragraphs)} characters -> {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
