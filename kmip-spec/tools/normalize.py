"""KMIP name normalization (Additional Message Encodings 1.0, section 4.1.3 / 6.1.3)."""
import re


def normalize(text: str) -> str:
    no_brackets = re.sub(r"[()]", " ", text)
    spaced = re.sub(r"\W([A-Za-z][a-z])", r" \1", no_brackets)
    words = [re.sub(r"\W", "_", w) for w in spaced.split()]
    if not words:
        return ""
    words[0] = re.sub(r"^(\d+)(.*)", r"\2\1", words[0])
    words = [w[0].upper() + w[1:] for w in words]
    return "".join(words)
