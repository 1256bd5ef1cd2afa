"""A CLIP tokenizer built in memory, so tiny models need no download.

CLIP uses byte-level BPE: every byte maps to a printable unicode character and
words end with ``</w>``. With the 256 byte symbols (alone and word-final) and no
merges, any text tokenizes, one token per byte, which is all a toy text encoder
needs.
"""

from __future__ import annotations

from transformers import CLIPTokenizer

SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")


def _bytes_to_unicode() -> dict[int, str]:
    """The GPT-2/CLIP reversible byte -> printable character table."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    shift = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + shift)
            shift += 1
    return dict(zip(printable, (chr(code) for code in codes), strict=True))


def byte_level_vocab() -> dict[str, int]:
    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [symbol + "</w>" for symbol in symbols] + list(SPECIAL_TOKENS)
    return {token: index for index, token in enumerate(tokens)}


def build_clip_tokenizer(model_max_length: int = 77) -> CLIPTokenizer:
    return CLIPTokenizer(vocab=byte_level_vocab(), merges=[], model_max_length=model_max_length)
