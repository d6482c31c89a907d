"""Scan src/ for SQL built from strings. Every statement must be a constant with bound
values, so the scan fails on:

- sqlite3_mprintf and the other SQLite formatting functions, anywhere;
- a variable passed as SQL to sqlite3_prepare*/sqlite3_exec/PQexec*/PQprepare that the
  same file fills with snprintf, asprintf, im_asprintf, im_buf_appendf, strcat or the
  like;
- a string literal that contains an SQL clause (SELECT, INSERT INTO, WHERE...) and a
  printf conversion such as %s or %d, which is SQL about to be formatted.

It needs neither the binary nor the engine. Each rule is also run on a small snippet
that breaks it, so a scanner that stopped matching would fail here."""

import os
import re
import unittest

SOURCE_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")

FORMATTING_FUNCTIONS = re.compile(
    r"\bsqlite3_(v?mprintf|snprintf|vsnprintf|str_appendf|str_vappendf)\s*\(")
SQL_SINKS = re.compile(
    r"\b(sqlite3_prepare(?:_v2|_v3|16(?:_v2|_v3)?)?|sqlite3_exec|PQexec|PQexecParams|PQprepare"
    r"|PQsendQuery|PQsendQueryParams|PQsendPrepare)\s*\(")
SQL_CLAUSE = re.compile(
    r"\b(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|WHERE|VALUES|ORDER\s+BY"
    r"|GROUP\s+BY|PRAGMA|CREATE\s+TABLE|DROP\s+TABLE|ALTER\s+TABLE|LIMIT)\b")
PRINTF_CONVERSION = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|z|j|t)?[sdiuxXqQwc]")
STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def strip_comments(text: str) -> str:
    """Blank out C comments, keeping string literals and line numbers."""
    out = []
    i = 0
    while i < len(text):
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = len(text) if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text[i] in "\"'":
            match = re.compile(r"%s(?:[^%s\\\n]|\\.)*%s" % ((text[i],) * 3)).match(text, i)
            end = match.end() if match else i + 1
            out.append(text[i:end])
            i = end
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def call_arguments(text: str, open_paren: int) -> list:
    """Split the argument list that starts at text[open_paren] == '(' at top-level commas."""
    depth, start, args = 0, open_paren + 1, []
    i = open_paren
    while i < len(text):
        char = text[i]
        if char in "\"'":
            match = STRING_LITERAL.match(text, i) if char == '"' else None
            i = match.end() if match else i + 1
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                args.append(text[start:i].strip())
                return args
        elif char == "," and depth == 1:
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    return args


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def scan(name: str, source: str) -> list:
    """Return 'file:line: problem' strings for every rule the source breaks."""
    text = strip_comments(source)
    problems = []
    for match in FORMATTING_FUNCTIONS.finditer(text):
        problems.append(f"{name}:{line_of(text, match.start())}: {match.group(0)[:-1].strip()} "
                        "formats SQL text; bind the values instead")
    for match in SQL_SINKS.finditer(text):
        args = call_arguments(text, match.end() - 1)
        if len(args) < 2:
            continue
        sql = args[1]
        identifier = re.fullmatch(r"&?\s*([A-Za-z_]\w*)", sql)
        if not identifier:
            continue
        var = re.escape(identifier.group(1))
        filled = re.search(
            rf"\b(?:v?sn?printf|strn?cat|strn?cpy|im_strlcpy|memcpy)\s*\(\s*{var}\b"
            rf"|\b(?:v?asprintf|im_buf_appendf|im_buf_append)\s*\(\s*&\s*{var}\b"
            rf"|\b{var}\s*=\s*(?:im_asprintf|im_buf_detach|sqlite3_v?mprintf|strdup|im_strdup)\s*\(",
            text)
        if filled:
            problems.append(f"{name}:{line_of(text, match.start())}: SQL passed to "
                            f"{match.group(1)} in {identifier.group(1)}, which is built at line "
                            f"{line_of(text, filled.start())}")
    for match in STRING_LITERAL.finditer(text):
        literal = match.group(0)
        if SQL_CLAUSE.search(literal) and PRINTF_CONVERSION.search(literal):
            problems.append(f"{name}:{line_of(text, match.start())}: SQL text with a printf "
                            f"conversion: {literal[:80]}")
    return problems


class SqlStringScanTest(unittest.TestCase):

    def test_source_tree_has_no_string_built_sql(self):
        problems = []
        files = 0
        for folder, _, names in os.walk(SOURCE_ROOT):
            for name in sorted(names):
                if name.endswith((".c", ".h")):
                    path = os.path.join(folder, name)
                    with open(path, encoding="utf-8", errors="replace") as source:
                        problems += scan(os.path.relpath(path, SOURCE_ROOT), source.read())
                    files += 1
        self.assertGreater(files, 20, f"only {files} C files under {SOURCE_ROOT}")
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_scanner_flags_mprintf(self):
        source = 'char *q = sqlite3_mprintf("SELECT 1 FROM t WHERE a = %Q", name);\n'
        self.assertEqual(len([p for p in scan("x.c", source) if "sqlite3_mprintf" in p]), 1)

    def test_scanner_flags_formatted_buffer(self):
        source = ('char sql[256];\n'
                  'snprintf(sql, sizeof(sql), query_template, name);\n'
                  'sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);\n')
        problems = scan("x.c", source)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("x.c:3:", problems[0])
        self.assertIn("built at line 2", problems[0])

    def test_scanner_flags_asprintf_into_exec(self):
        source = ('char *sql = NULL;\n'
                  'sql = im_asprintf(template, table);\n'
                  'rc = sqlite3_exec(db, sql, NULL, NULL, NULL);\n')
        self.assertEqual(len(scan("x.c", source)), 1)

    def test_scanner_flags_format_literal(self):
        source = 'im_buf_appendf(&b, " ORDER BY %s DESC", column);\n'
        problems = scan("x.c", source)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("printf conversion", problems[0])

    def test_scanner_accepts_bound_statement(self):
        source = ('#define SQL_GET "SELECT id FROM users WHERE username = ?1"\n'
                  'sqlite3_prepare_v2(db, SQL_GET, -1, &stmt, NULL);\n'
                  'sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);\n'
                  '/* sqlite3_mprintf("%s") in a comment is ignored */\n'
                  'snprintf(err, errlen, "cannot select user %s", name);\n')
        self.assertEqual(scan("x.c", source), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
