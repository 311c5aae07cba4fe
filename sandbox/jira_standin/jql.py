"""A JQL subset for the Jira stand-in: tokenizer, recursive-descent parser and evaluator.

Anything outside the subset is rejected with :class:`JqlError` (answered as HTTP 400 with Jira's
``Error in the JQL Query`` body): a clause is never ignored and a query never silently widened.

Text search (``~``) imitates Lucene as Jira uses it: text is split into lowercase alphanumeric words;
all words of the value must occur (any order); a value wrapped in (escaped) double quotes is a phrase
whose words must be adjacent and in order; a trailing ``*`` makes a word a prefix; unescaped Lucene
reserved characters outside a phrase make the query invalid, except a ``-`` inside a term (``JI-ABC`` is
one term of two adjacent words, as in Lucene's classic grammar; a leading ``-`` is an operator).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["JqlError", "JqlValueError", "Query", "parse", "compile_query", "tokenize_words", "TextQuery"]


class JqlError(Exception):
    """A JQL query Jira would refuse (syntax, unknown field, unsupported operator...)."""

    def __init__(self, message: str, *, prefix: bool = True):
        super().__init__(message)
        self.message = f"Error in the JQL Query: {message}" if prefix else message


class JqlValueError(JqlError):
    """A value that does not exist (unknown project, status, user, issue key): Jira only warns
    about these when the caller passes validateQuery=false/warn."""

    def __init__(self, message: str):
        super().__init__(message, prefix=False)


# --------------------------------------------------------------------------------------------
# Tokenizer


KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
_WORD_CHAR = re.compile(r"[\w\-]", re.UNICODE)
_VALID_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "'": "'", "\\": "\\", " ": " "}


@dataclass
class Token:
    kind: str  # 'op' | 'lparen' | 'rparen' | 'comma' | 'string' | 'word' | 'and' | 'or' | 'not' | 'eof'
    text: str
    pos: int
    quoted: bool = False


def _lex(jql: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(jql)
    while i < n:
        c = jql[i]
        if c.isspace():
            i += 1
            continue
        if c == "(":
            tokens.append(Token("lparen", c, i))
            i += 1
        elif c == ")":
            tokens.append(Token("rparen", c, i))
            i += 1
        elif c == ",":
            tokens.append(Token("comma", c, i))
            i += 1
        elif jql.startswith(("!=", "!~", ">=", "<="), i):
            tokens.append(Token("op", jql[i : i + 2], i))
            i += 2
        elif c in "=~<>":
            tokens.append(Token("op", c, i))
            i += 1
        elif jql.startswith("&&", i) or c == "&":
            w = 2 if jql.startswith("&&", i) else 1
            tokens.append(Token("and", jql[i : i + w], i))
            i += w
        elif jql.startswith("||", i) or c == "|":
            w = 2 if jql.startswith("||", i) else 1
            tokens.append(Token("or", jql[i : i + w], i))
            i += w
        elif c == "!":
            tokens.append(Token("not", c, i))
            i += 1
        elif c in "\"'":
            start, quote, out = i, c, []
            i += 1
            while True:
                if i >= n:
                    raise JqlError(
                        f"Missing closing quote for string starting at character {start + 1}. "
                        f"(line 1, character {start + 1})"
                    )
                ch = jql[i]
                if ch == quote:
                    i += 1
                    break
                if ch == "\\":
                    nxt = jql[i + 1] if i + 1 < n else ""
                    if nxt in _VALID_ESCAPES:
                        out.append(_VALID_ESCAPES[nxt])
                        i += 2
                        continue
                    if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", jql[i + 2 : i + 6]):
                        out.append(chr(int(jql[i + 2 : i + 6], 16)))
                        i += 6
                        continue
                    raise JqlError(
                        f"'\\{nxt}' is an illegal JQL escape sequence. "
                        f"The valid escape sequences are \\', \\\", \\t, \\n, \\r, \\\\, '\\ ' and \\uXXXX. "
                        f"(line 1, character {i + 1})"
                    )
                out.append(ch)
                i += 1
            tokens.append(Token("string", "".join(out), start, quoted=True))
        elif _WORD_CHAR.match(c):
            start = i
            while i < n and _WORD_CHAR.match(jql[i]):
                i += 1
            text = jql[start:i]
            low = text.lower()
            kind = low if low in ("and", "or", "not") else "word"
            tokens.append(Token(kind, text, start))
        else:
            raise JqlError(
                f"The character '{c}' is a reserved JQL character. You must enclose it in a string or "
                f"use the escape '\\u{ord(c):04x}' instead. (line 1, character {i + 1})"
            )
    tokens.append(Token("eof", "", n))
    return tokens


# --------------------------------------------------------------------------------------------
# AST


@dataclass
class Value:
    text: str
    quoted: bool = False
    func: str | None = None  # function name for now(), currentUser() ...
    args: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.func:
            return f"{self.func}({', '.join(self.args)})"
        return self.text


@dataclass
class Clause:
    field: str  # canonical field name
    op: str  # '=', '!=', '~', '!~', '<', '<=', '>', '>=', 'in', 'not in', 'is', 'is not'
    values: list[Value]
    pos: int
    raw_field: str


@dataclass
class BoolNode:
    op: str  # 'and' | 'or' | 'not'
    children: list[Any]


@dataclass
class SortKey:
    field: str
    desc: bool


@dataclass
class Query:
    where: Any  # Clause | BoolNode | None
    order: list[SortKey]


# --------------------------------------------------------------------------------------------
# Fields

_EQ = {"=", "!=", "in", "not in"}
_EMPTY = {"is", "is not"}
_CMP = {"<", "<=", ">", ">="}
_TEXT = {"~", "!~"}

FIELDS: dict[str, tuple[str, set[str]]] = {
    # canonical name: (kind, supported operators)
    "project": ("project", _EQ),
    "key": ("key", _EQ | _CMP),
    "summary": ("text", _TEXT | _EMPTY),
    "description": ("text", _TEXT | _EMPTY),
    "comment": ("text", _TEXT),
    "text": ("text", {"~"}),
    "labels": ("labels", _EQ | _EMPTY),
    "status": ("status", _EQ),
    "statusCategory": ("statusCategory", _EQ),
    "reporter": ("user", _EQ | _EMPTY),
    "issuetype": ("issuetype", _EQ),
    "resolution": ("resolution", _EQ | _EMPTY),
    "created": ("date", _EQ | _CMP | _EMPTY),
    "updated": ("date", _EQ | _CMP | _EMPTY),
}
ALIASES = {
    "issuekey": "key",
    "issue": "key",
    "id": "key",
    "statuscategory": "statusCategory",
    "type": "issuetype",
    "createddate": "created",
    "updateddate": "updated",
}
SORTABLE = {"created", "updated", "key", "summary"}
FUNCTIONS = {"now", "startofday", "endofday", "currentuser"}


def _canonical_field(name: str) -> str | None:
    low = name.lower()
    if low in ALIASES:
        return ALIASES[low]
    for canon in FIELDS:
        if canon.lower() == low:
            return canon
    return None


# --------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, jql: str):
        self.jql = jql
        self.tokens = _lex(jql)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def is_word(self, *words: str) -> bool:
        t = self.tok
        return t.kind == "word" and not t.quoted and t.text.lower() in words

    def where_pos(self, t: Token | None = None) -> str:
        t = t or self.tok
        return f"(line 1, character {t.pos + 1})"

    def parse(self) -> Query:
        where = None
        if not self.tok.kind == "eof" and not self.is_word("order"):
            where = self.parse_or()
        order: list[SortKey] = []
        if self.is_word("order"):
            self.take()
            if not self.is_word("by"):
                raise JqlError(f"Expecting 'by' but got '{self.tok.text}'. {self.where_pos()}")
            self.take()
            order.append(self.parse_sort())
            while self.tok.kind == "comma":
                self.take()
                order.append(self.parse_sort())
        if self.tok.kind != "eof":
            t = self.tok
            if where is not None and not order:
                raise JqlError(f"Expecting either 'OR' or 'AND' but got '{t.text}'. {self.where_pos(t)}")
            raise JqlError(f"Expecting end of query but got '{t.text}'. {self.where_pos(t)}")
        return Query(where, order)

    def parse_sort(self) -> SortKey:
        t = self.take()
        if t.kind not in ("word", "string") or not t.text:
            raise JqlError(f"Expecting a field name at the position of '{t.text}'. {self.where_pos(t)}")
        canon = _canonical_field(t.text)
        if canon is None:
            raise JqlError(
                f"Field '{t.text}' does not exist or you do not have permission to view it.", prefix=False
            )
        if canon not in SORTABLE:
            raise JqlError(
                f"Sorting by field '{t.text}' is not supported by the Jira stand-in "
                f"(supported: {', '.join(sorted(SORTABLE))}).",
                prefix=False,
            )
        desc = False
        if self.is_word("asc", "desc"):
            desc = self.take().text.lower() == "desc"
        return SortKey(canon, desc)

    def parse_or(self):
        items = [self.parse_and()]
        while self.tok.kind == "or":
            self.take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else BoolNode("or", items)

    def parse_and(self):
        items = [self.parse_not()]
        while self.tok.kind == "and":
            self.take()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else BoolNode("and", items)

    def parse_not(self):
        if self.tok.kind == "not":
            self.take()
            return BoolNode("not", [self.parse_not()])
        if self.tok.kind == "lparen":
            self.take()
            inner = self.parse_or()
            if self.tok.kind != "rparen":
                raise JqlError(f"Expecting ')' but got '{self.tok.text or '<EOF>'}'. {self.where_pos()}")
            self.take()
            return inner
        return self.parse_clause()

    def parse_clause(self) -> Clause:
        ft = self.tok
        if ft.kind not in ("word", "string") or (ft.kind == "word" and ft.text.lower() in KEYWORDS):
            got = ft.text or "<EOF>"
            raise JqlError(f"Expecting a field name but got '{got}'. {self.where_pos(ft)}")
        self.take()
        if self.tok.kind == "lparen" or self.tok.text == "[" or self.tok.text == ".":
            raise JqlError(
                f"Field '{ft.text}' does not exist or you do not have permission to view it.", prefix=False
            )
        canon = _canonical_field(ft.text)
        if canon is None:
            raise JqlError(
                f"Field '{ft.text}' does not exist or you do not have permission to view it.", prefix=False
            )
        op = self.parse_operator()
        kind, ops = FIELDS[canon]
        values: list[Value]
        if op in ("in", "not in"):
            values = self.parse_list()
        elif op in ("is", "is not"):
            if not self.is_word("empty", "null"):
                raise JqlError(f"Expecting 'EMPTY' or 'NULL' but got '{self.tok.text}'. {self.where_pos()}")
            self.take()
            values = []
        else:
            if self.is_word("empty", "null") and op in ("=", "!="):
                self.take()
                op = "is" if op == "=" else "is not"
                values = []
            else:
                values = [self.parse_value()]
        if op not in ops:
            shown = op.upper() if op[0].isalpha() else op
            raise JqlError(f"The operator '{shown}' is not supported by the '{ft.text}' field.", prefix=False)
        return Clause(canon, op, values, ft.pos, ft.text)

    def parse_operator(self) -> str:
        t = self.tok
        if t.kind == "op":
            self.take()
            return t.text
        if self.is_word("in"):
            self.take()
            return "in"
        if t.kind == "not":
            self.take()
            if self.is_word("in"):
                self.take()
                return "not in"
            raise JqlError(f"Expecting 'IN' but got '{self.tok.text}'. {self.where_pos()}")
        if self.is_word("is"):
            self.take()
            if self.tok.kind == "not":
                self.take()
                return "is not"
            return "is"
        if self.is_word("was", "changed"):
            raise JqlError(
                f"The operator '{t.text.upper()}' is not supported by the Jira stand-in.", prefix=False
            )
        got = t.text or "<EOF>"
        raise JqlError(
            f"Expecting operator but got '{got}'. The valid operators are '=', '!=', '<', '>', '<=', "
            f"'>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. {self.where_pos(t)}"
        )

    def parse_list(self) -> list[Value]:
        if self.tok.kind != "lparen":
            raise JqlError(f"Expecting '(' but got '{self.tok.text or '<EOF>'}'. {self.where_pos()}")
        self.take()
        values = [self.parse_value()]
        while self.tok.kind == "comma":
            self.take()
            values.append(self.parse_value())
        if self.tok.kind != "rparen":
            raise JqlError(f"Expecting ')' but got '{self.tok.text or '<EOF>'}'. {self.where_pos()}")
        self.take()
        return values

    def parse_value(self) -> Value:
        t = self.tok
        if t.kind == "string":
            self.take()
            return Value(t.text, quoted=True)
        if t.kind == "word":
            if t.text.lower() in KEYWORDS:
                raise JqlError(
                    f"Expecting either a value, list or function but got '{t.text}'. You must surround "
                    f"'{t.text}' in quotation marks to use it as a value. {self.where_pos(t)}"
                )
            self.take()
            if self.tok.kind == "lparen":  # function call
                self.take()
                args: list[str] = []
                while self.tok.kind != "rparen":
                    a = self.take()
                    if a.kind not in ("word", "string"):
                        raise JqlError(
                            f"Expecting a function argument but got '{a.text or '<EOF>'}'. "
                            f"{self.where_pos(a)}"
                        )
                    args.append(a.text)
                    if self.tok.kind == "comma":
                        self.take()
                self.take()
                if t.text.lower() not in FUNCTIONS:
                    raise JqlError(
                        f"Unable to find JQL function '{t.text}({', '.join(args)})'.", prefix=False
                    )
                return Value(t.text, func=t.text.lower(), args=args)
            return Value(t.text)
        got = t.text or "<EOF>"
        raise JqlError(f"Expecting either a value, list or function but got '{got}'. {self.where_pos(t)}")


def parse(jql: str) -> Query:
    """Parse a JQL string into a :class:`Query`; raises :class:`JqlError`."""
    return _Parser(jql or "").parse()


# --------------------------------------------------------------------------------------------
# Text search (Lucene subset)

_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_LUCENE_RESERVED = set("+-&|!(){}[]^~?:/")


class Tokens(list):
    """The words of one field value, in order, with their set (``vocab``): most documents lack a searched
    word, and a set lookup tells so without a scan of every position."""

    __slots__ = ("vocab",)

    def __init__(self, words: list[str]):
        super().__init__(words)
        self.vocab = frozenset(words)


def tokenize_words(text: str | None) -> Tokens:
    """Lowercase alphanumeric words, in order (the stand-in's analyzer)."""
    return Tokens(_WORDS.findall((text or "").lower()))


@dataclass
class _Term:
    words: list[str]
    prefix_last: bool = False  # trailing '*'


@dataclass
class TextQuery:
    """All terms must match. A term with several words must match them adjacently, in order."""

    terms: list[_Term]

    @classmethod
    def parse(cls, value: str, field_name: str) -> TextQuery:
        invalid = JqlError(
            f"The text query '{value}' for field '{field_name}' is not valid: probably your query "
            f"contains invalid Lucene syntax.",
            prefix=False,
        )
        if value.strip() == "":
            raise JqlError(
                f"The field '{field_name}' does not support searching for an empty string.", prefix=False
            )
        terms: list[_Term] = []
        i, n = 0, len(value)
        while i < n:
            c = value[i]
            if c.isspace():
                i += 1
                continue
            if c == '"':
                j, buf = i + 1, []
                while j < n and value[j] != '"':
                    if value[j] == "\\" and j + 1 < n:
                        j += 1
                    buf.append(value[j])
                    j += 1
                if j >= n:
                    raise invalid
                i = j + 1
                words = tokenize_words("".join(buf))
                if words:
                    terms.append(_Term(words))
                else:
                    terms.append(_Term([]))
                continue
            buf, prefix = [], False
            while i < n and not value[i].isspace() and value[i] != '"':
                ch = value[i]
                if ch == "\\":
                    if i + 1 >= n:
                        raise invalid
                    buf.append(value[i + 1])
                    i += 2
                    continue
                if ch in _LUCENE_RESERVED and not (ch == "-" and buf):
                    # Lucene's classic grammar lets "-" continue a term (JI-ABC12 is one term, analysed into
                    # the words "ji" and "abc12"); only a "-" that starts a term is the prohibit operator.
                    raise invalid
                if ch == "*":
                    nxt = value[i + 1] if i + 1 < n else " "
                    if not buf or not (nxt.isspace() or nxt == '"'):
                        raise invalid  # leading or inner wildcard
                    prefix = True
                    i += 1
                    continue
                buf.append(ch)
                i += 1
            raw = "".join(buf)
            if raw in ("AND", "&&"):
                continue
            if raw in ("OR", "NOT"):
                raise JqlError(
                    f"The text query '{value}' for field '{field_name}' uses the Lucene operator '{raw}', "
                    f"which the Jira stand-in does not support.",
                    prefix=False,
                )
            words = tokenize_words(raw)
            if words:
                terms.append(_Term(words, prefix_last=prefix))
            elif prefix:
                raise invalid
        return cls(terms)

    def matches(self, docs: list[list[str]]) -> bool:
        """``docs``: the values of one (possibly multi-valued) field, each already tokenized."""
        if not self.terms:
            return False
        for term in self.terms:
            if not term.words:
                return False
            if not any(_term_in(term, doc) for doc in docs):
                return False
        return True


def _word_eq(want: str, have: str, prefix: bool) -> bool:
    return have.startswith(want) if prefix else have == want


def _term_in(term: _Term, doc: list[str]) -> bool:
    """The term's words occur in ``doc`` adjacently, in order (the last one as a prefix if so marked)."""
    words = term.words
    k = len(words)
    if k == 0:
        return True
    vocab = doc.vocab if isinstance(doc, Tokens) else frozenset(doc)
    if k == 1:
        if term.prefix_last:
            return any(v.startswith(words[0]) for v in vocab)
        return words[0] in vocab
    exact = words[:-1] if term.prefix_last else words
    if any(w not in vocab for w in exact):
        return False
    # a phrase: try each position of its first word (never a prefix: only the last word can be one)
    first, start, n = words[0], 0, len(doc)
    while True:
        try:
            start = doc.index(first, start)
        except ValueError:
            return False
        if start + k > n:
            return False
        if all(_word_eq(w, doc[start + j], term.prefix_last and j == k - 1) for j, w in enumerate(words)):
            return True
        start += 1


# --------------------------------------------------------------------------------------------
# Dates

_DATE_FORMATS = ["%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d"]
_PERIOD = re.compile(r"^([+-]?)\s*((?:\d+\s*[wdhm]\s*)+)$", re.IGNORECASE)
_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}


def _parse_date(v: Value, field_name: str, now: datetime) -> tuple[datetime, bool]:
    """Returns (instant, whole_day)."""
    if v.func:
        offset = timedelta(0)
        if v.args:
            offset = timedelta(seconds=_period_seconds(v.args[0], field_name, v))
        if v.func == "now":
            return now + offset, False
        if v.func in ("startofday", "endofday"):
            day = now.replace(hour=0, minute=0, second=0, microsecond=0) + offset
            if v.func == "endofday":
                day = day + timedelta(days=1) - timedelta(milliseconds=1)
            return day, False
        raise JqlError(
            f"A value provided by the function '{v.describe()}' is invalid for the field '{field_name}'.",
            prefix=False,
        )
    text = v.text.strip()
    for fmt in _DATE_FORMATS:
        try:
            d = datetime.strptime(text, fmt).replace(tzinfo=UTC)
            return d, "%H" not in fmt
        except ValueError:
            pass
    return now + timedelta(seconds=_period_seconds(text, field_name, v)), False


def _period_seconds(text: str, field_name: str, v: Value) -> int:
    m = _PERIOD.match(text.strip())
    if not m:
        raise JqlError(
            f"Date value '{v.describe()}' for field '{field_name}' is invalid. Valid formats include: "
            f"'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format "
            f"e.g. '-5d', '4w 2d'.",
            prefix=False,
        )
    secs = sum(
        int(num) * _UNITS[unit.lower()] for num, unit in re.findall(r"(\d+)\s*([wdhmWDHM])", m.group(2))
    )
    return -secs if m.group(1) == "-" else secs


# --------------------------------------------------------------------------------------------
# Compilation against a catalogue (projects, statuses, users, issues)

_KEY_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-(\d+)$")


class Catalog:
    """What the compiler needs to resolve values. The store implements it."""

    def project_ids(self, value: str) -> set[str]: ...  # noqa: E704
    def status_ids(self, value: str) -> set[str]: ...  # noqa: E704
    def status_category_keys(self, value: str) -> set[str]: ...  # noqa: E704
    def issuetype_ids(self, value: str) -> set[str]: ...  # noqa: E704
    def resolution_ids(self, value: str) -> set[str]: ...  # noqa: E704
    def user_ids(self, value: str) -> set[str]: ...  # noqa: E704
    def issue_exists(self, key_or_id: str) -> bool: ...  # noqa: E704
    def current_user_id(self) -> str: ...  # noqa: E704


Predicate = Callable[[dict], bool]


@dataclass
class CompiledQuery:
    predicate: Predicate
    order: list[SortKey]
    warnings: list[str]
    bounded: bool  # has at least one restriction (Jira Cloud refuses unbounded search/jql queries)


def compile_query(
    query: Query, catalog: Catalog, *, now: datetime, strict_values: bool = True
) -> CompiledQuery:
    """Turn a parsed query into a predicate over issue documents (dicts built by the store).

    Value errors (e.g. a project that does not exist) raise :class:`JqlValueError` when
    ``strict_values``; otherwise they become warnings and the clause matches nothing."""
    warnings: list[str] = []

    def value_problem(msg: str) -> None:
        if strict_values:
            raise JqlValueError(msg)
        warnings.append(msg)

    def build(node) -> Predicate:
        if isinstance(node, BoolNode):
            kids = [build(c) for c in node.children]
            if node.op == "and":
                return lambda d: all(k(d) for k in kids)
            if node.op == "or":
                return lambda d: any(k(d) for k in kids)
            only = kids[0]
            return lambda d: not only(d)
        return build_clause(node)

    def build_clause(c: Clause) -> Predicate:
        kind, _ = FIELDS[c.field]
        if c.op in ("is", "is not"):
            empty = _empty_test(c.field)
            return (lambda d: empty(d)) if c.op == "is" else (lambda d: not empty(d))
        if kind == "text":
            for v in c.values:
                if v.func:
                    raise JqlError(f"The field '{c.raw_field}' does not support functions.", prefix=False)
            tq = TextQuery.parse(c.values[0].text, c.raw_field)
            fields = ["summary", "description", "comment"] if c.field == "text" else [c.field]

            def text_match(d, fields=fields, tq=tq):
                return any(tq.matches(d["words"][f]) for f in fields)

            if c.op == "~":
                return text_match
            return lambda d: bool(d["words"][c.field]) and not text_match(d)
        if kind == "date":
            return _date_clause(c, now)
        if kind == "key":
            return _key_clause(c, catalog, value_problem)
        # set-valued equality fields
        resolver = {
            "project": catalog.project_ids,
            "status": catalog.status_ids,
            "statusCategory": catalog.status_category_keys,
            "issuetype": catalog.issuetype_ids,
            "resolution": catalog.resolution_ids,
            "user": catalog.user_ids,
            "labels": None,
        }[kind]
        wanted: set[str] = set()
        for v in c.values:
            if v.func:
                if v.func == "currentuser" and kind == "user":
                    wanted.add(catalog.current_user_id())
                    continue
                raise JqlError(
                    f"The function '{v.describe()}' is not supported for the field '{c.raw_field}'.",
                    prefix=False,
                )
            if resolver is None:
                wanted.add(v.text.lower())
                continue
            ids = resolver(v.text)
            if not ids:
                value_problem(f"The value '{v.text}' does not exist for the field '{c.raw_field}'.")
            wanted |= ids
        attr = {
            "project": "project",
            "status": "status",
            "statusCategory": "statusCategory",
            "issuetype": "issuetype",
            "resolution": "resolution",
            "user": c.field,
            "labels": "labels",
        }[kind]

        def values_of(d) -> set[str]:
            got = d[attr]
            if got is None:
                return {"__none__"} if kind == "resolution" else set()
            if isinstance(got, (list, set, tuple)):
                return {g.lower() for g in got} if kind == "labels" else set(got)
            return {got}

        if c.op in ("=", "in"):
            return lambda d: bool(values_of(d) & wanted)
        return lambda d: bool(values_of(d)) and not (values_of(d) & wanted)

    predicate = build(query.where) if query.where is not None else (lambda d: True)
    return CompiledQuery(predicate, query.order, warnings, bounded=query.where is not None)


def _empty_test(field_name: str) -> Predicate:
    def test(d) -> bool:
        if field_name in ("summary", "description", "comment"):
            return not d["words"][field_name]
        v = d.get(field_name)
        return v is None or v == [] or v == ""

    return test


def _date_clause(c: Clause, now: datetime) -> Predicate:
    instant, _ = _parse_date(c.values[0], c.raw_field, now)  # a bare date means its midnight, as in Jira
    f = c.field
    ops = {
        "=": lambda a: a == instant,
        "!=": lambda a: a != instant,
        "<": lambda a: a < instant,
        "<=": lambda a: a <= instant,
        ">": lambda a: a > instant,
        ">=": lambda a: a >= instant,
    }
    test = ops[c.op]
    return lambda d: d[f] is not None and test(d[f])


def _key_clause(c: Clause, catalog: Catalog, value_problem) -> Predicate:
    refs: list[tuple[str, int] | str] = []
    for v in c.values:
        if v.func:
            raise JqlError(
                f"The function '{v.describe()}' is not supported for the field '{c.raw_field}'.", prefix=False
            )
        t = v.text.strip()
        m = _KEY_RE.match(t)
        if t.isdigit():
            if c.op in _CMP:
                raise JqlError(f"The issue key '{t}' for field '{c.raw_field}' is invalid.", prefix=False)
            if not catalog.issue_exists(t):
                value_problem(f"An issue with key '{t}' does not exist for field '{c.raw_field}'.")
            refs.append(t)
        elif m:
            if c.op not in _CMP and not catalog.issue_exists(t):
                value_problem(f"An issue with key '{t.upper()}' does not exist for field '{c.raw_field}'.")
            refs.append((m.group(1).upper(), int(m.group(2))))
        else:
            raise JqlError(f"The issue key '{t}' for field '{c.raw_field}' is invalid.", prefix=False)

    def match_one(d, ref) -> bool:
        if isinstance(ref, str):
            return d["id"] == ref
        return d["key_tuple"] == ref

    if c.op in ("=", "in"):
        return lambda d: any(match_one(d, r) for r in refs)
    if c.op in ("!=", "not in"):
        return lambda d: not any(match_one(d, r) for r in refs)
    ref = refs[0]
    assert isinstance(ref, tuple)
    cmp = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }[c.op]
    return lambda d: d["key_tuple"][0] == ref[0] and cmp(d["key_tuple"][1], ref[1])
