"""The Prisma schema language's tokens, and a cursor over them for the reader."""

from __future__ import annotations

import re
from dataclasses import dataclass

from reactor.errors import ReactorError


class PrismaSchemaError(ReactorError):
    code = "PrismaSchemaInvalid"


_TOKEN = re.compile(r"""
    (?P<newline>\n)
  | (?P<space>[ \t\r]+)
  | (?P<comment>//[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>@@|[@{}()\[\],:=?])
""", re.VERBOSE)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    line: int


def tokenize(text: str, path: str) -> list[Token]:
    tokens: list[Token] = []
    line, position = 1, 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise PrismaSchemaError(f"{path}:{line}: unexpected character"
                                    f" {text[position]!r}")
        kind = match.lastgroup or ""
        if kind in ("newline", "number", "name", "punct", "string"):
            tokens.append(Token(kind, match.group(), line))
        if kind == "newline":
            line += 1
        position = match.end()
    tokens.append(Token("end", "", line))
    return tokens


class Reader:
    """A cursor over the tokens; newlines matter between fields, not inside brackets."""

    def __init__(self, tokens: list[Token], path: str) -> None:
        self.tokens = tokens
        self.path = path
        self.at = 0

    def peek(self) -> Token:
        return self.tokens[self.at]

    def next(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def skip_newlines(self) -> None:
        while self.peek().kind == "newline":
            self.at += 1

    def fail(self, expected: str, token: Token | None = None) -> PrismaSchemaError:
        token = token or self.peek()
        got = "end of line" if token.kind == "newline" else (
            "end of file" if token.kind == "end" else repr(token.text))
        return PrismaSchemaError(f"{self.path}:{token.line}: expected {expected}, got {got}")

    def expect(self, text: str) -> Token:
        token = self.next()
        if token.text != text or token.kind == "string":
            raise self.fail(repr(text), token)
        return token

    def name(self, what: str) -> str:
        token = self.next()
        if token.kind != "name":
            raise self.fail(what, token)
        return token.text
